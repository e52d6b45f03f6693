"""What every workload provides: a table, the op each worker issues per step, and a checker.

The runner drives a workload step by step. A *step* is one race: every worker builds its request
before the starting gun (``request``), the gun fires, all requests go out at once (``execute``),
and each outcome is handed back (``completed``) so workers can update what they believe. After
the last step the runner reads the final state (``read_final``) and the pure ``check`` function
turns (ops, final state) into a verdict — from saved files alone, so `stress check` can redo it.
Before anything is sent, ``validate_contract`` holds the first race's requests against what the checker
declares it needs (``workloads.contract``); docs/workloads.md describes the whole contract.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from harness.checker.detection import BURST, SUSTAINED
from harness.checker.verdict import Verdict
from harness.clients.items import plain_item
from harness.clients.outcome import Outcome, Request
from harness.errors import UsageError
from harness.history.events import Op
from workloads.contract import Contract, contract_message, contract_problems, declared_contracts

if TYPE_CHECKING:  # only a type here: checkers and `stress check` must not need the AWS SDK
    from harness.clients.sdk import DynamoClient

# How workers meet the server (``--pattern``). burst: every worker of a race released at one gun, a race per
# key and round. sustained: ``per_key`` workers per key loop without a barrier for the run's duration, each
# op built from what its worker last saw, so every successful conditional write has live contenders. (The two
# names are defined by the checker, which sits below the workloads and names the pattern in a detection block.)
PATTERNS = (BURST, SUSTAINED)
SUSTAINED_KEYS = "*"  # the key of a sustained step: every worker has its own
DEFAULT_PER_KEY = 4  # a few contenders per key: every successful write has live rivals, the key stays hot
DEFAULT_SUSTAIN_S = 10.0
# The final read's GetItems in flight at once (and the run's admin connections): one at a time, 10,000 keys took
# 36 s after a one-second run (--rounds 10000 --duration 1).
FINAL_READS_IN_FLIGHT = 16


@dataclass(frozen=True)
class WorkloadConfig:
    """The run options a workload needs."""

    workers: int
    keys: int
    rounds: int | None  # None: the workload's default
    seed: int
    run_id: str
    unsafe: bool = False  # the naive read-then-write variant: a negative control that must be caught
    key_prefix: str = ""  # set when racing in a user's existing table: only our own keys are written
    pattern: str = BURST
    per_key: int = DEFAULT_PER_KEY  # sustained: workers looping on each key (workers = keys × per_key)
    sustain_s: float = DEFAULT_SUSTAIN_S  # sustained: how long each round's loops run


@dataclass(frozen=True)
class Step:
    """One race: all workers target ``key`` at once in ``round``.

    Under ``--pattern sustained`` a round is one step with ``sustain_s`` set and no key of its own: each
    worker loops on its key (``Workload.sustained_key``) for that long, asking ``request`` for op ``n`` of
    its loop with ``Step(round, key, n=n)``.
    """

    round: int
    key: str
    sustain_s: float | None = None
    n: int = 0  # the op's place in its worker's sustained loop


@dataclass
class Call:
    """A worker's op for one step: what to record and what to send."""

    f: str
    value: Any
    request: Request
    prepared: Any = None  # what the client prepared before the gun (serialised, signed request)


class Workload(ABC):
    """Base class; subclasses set ``name`` and implement ``request``, ``completed`` and ``check``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    key_attribute: ClassVar[str] = "Username"
    default_rounds: ClassVar[int] = 1
    supports_unsafe: ClassVar[bool] = False
    # True when no request depends on an earlier outcome: the runner may build race N+1 during race N.
    independent_steps: ClassVar[bool] = False
    # True when a step races every worker on one item, so "winners per race" means something (a batch
    # load's or a transaction group's step has many items and many legitimate successes).
    races_one_item: ClassVar[bool] = True
    # True when ``request`` also builds the ops of a sustained loop (``step.n``; see ``Step``), and ``check``
    # checks such a history (``config["pattern"] == "sustained"``).
    supports_sustained: ClassVar[bool] = False
    # True when requests carry times of the history's clock (CLOCK_MONOTONIC), which every worker of one
    # machine shares: then every worker must run on one machine (Ray shards on several hosts are refused).
    one_clock: ClassVar[bool] = False
    # A workload whose keys are registers (see ``register_op``): the item attribute that holds a key's value
    # (``stress export`` ends each key with a read of it in the final state, so a lost write shows to Jepsen's
    # tools too), and what every key holds before the races (written as each key's first op, so they need no
    # initial value of their own; None: nothing, no item).
    register_attribute: ClassVar[str | None] = None
    register_initial: ClassVar[Any] = None

    def __init__(self, config: WorkloadConfig, table: str) -> None:
        self.config = config
        self.table = table
        self.sustained = config.pattern == SUSTAINED
        self.rounds = config.rounds or (1 if self.sustained else self.default_rounds)
        self.unsafe = config.unsafe

    @classmethod
    def register_op(cls, f: str, value: Any) -> tuple[str, Any] | None:
        """This workload's op ``f`` (its invoke's ``value``) as an op on one register per key, in the words of
        Jepsen's cas-register: ``("cas", [expected, new])``, ``("write", v)`` or ``("read", None)`` (the value
        read is the completion's); None to write it as recorded, which for a ``read``, and for a ``cas`` recorded as
        ``{expected, new}`` (role-update's), already is a register op."""
        return None

    def table_definition(self) -> dict[str, Any]:
        """CreateTable parameters: a string hash key, on-demand billing."""
        return {
            "TableName": self.table,
            "AttributeDefinitions": [{"AttributeName": self.key_attribute, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": self.key_attribute, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }

    def key_names(self, round_: int) -> list[str]:
        """The keys raced in one round."""
        return [f"{self.config.key_prefix}user-{i:04d}" for i in range(self.config.keys)]

    def steps(self) -> Iterator[Step]:
        """Every race of the run, in order (round-major)."""
        for round_ in range(self.rounds):
            yield from self.round_steps(round_)

    def round_steps(self, round_: int) -> Iterator[Step]:
        """The races of one round (sustained: the round's one loop step)."""
        if self.sustained:
            yield Step(round_, SUSTAINED_KEYS, sustain_s=self.config.sustain_s)
            return
        for key in self.key_names(round_):
            yield Step(round_, key)

    def sustained_key(self, worker: int, round_: int) -> str:
        """The key ``worker`` loops on in a sustained round: ``per_key`` workers on each key."""
        keys = self.key_names(round_)
        return keys[(worker // max(self.config.per_key, 1)) % len(keys)]

    def probe_step(self) -> Step | None:
        """A step whose requests show what this workload sends (the contract check holds them up)."""
        if self.sustained:
            return Step(0, self.sustained_key(0, 0))
        return next(iter(self.steps()), None)

    def add_round(self) -> int:
        """One more round than planned (the run keeps racing until every requested fault has fired);
        returns its number. ``setup_round`` seeds it before it is raced."""
        self.rounds += 1
        return self.rounds - 1

    def planned_requests(self, rate: float | None = None) -> Counter[str]:
        """Requests the run will send, by client method (for the AWS cost plan). A sustained loop sends what
        its duration allows: at most ``rate`` ops/s, counted as writes (the dearer kind)."""
        if self.sustained:
            if not rate:
                raise UsageError("--pattern sustained sends as many requests as its duration allows: give --rate "
                                 "so the AWS plan can bound them")
            return Counter({"update_item": int(rate * self.config.sustain_s * self.rounds) + 1,
                            "get_item": len(self.all_keys())})
        planned: Counter[str] = Counter()
        for step in self.steps():
            call = self.request(0, step)
            if call:
                planned[call.request.operation] += self.config.workers * (2 if self.unsafe else 1)
        planned["get_item"] += len(self.all_keys())
        return planned

    def all_keys(self) -> list[str]:
        """Every key the run touches (what the final state reads)."""
        if self.sustained:
            return sorted({key for round_ in range(self.rounds) for key in self.key_names(round_)})
        return sorted({step.key for step in self.steps()})

    async def setup(self, client: DynamoClient) -> None:
        """Seed items before the first race: every planned round's ``setup_round``."""
        for round_ in range(self.rounds):
            await self.setup_round(client, round_)

    async def setup_round(self, client: DynamoClient, round_: int) -> None:
        """Seed the items one round races (default: nothing)."""
        return

    def can_prepare_during(self, following: Step, racing: Step) -> bool:
        """Whether the requests of ``following`` may be built while ``racing`` is still in flight (they do
        not depend on its outcomes); the runner then keeps the server busy between races."""
        return self.independent_steps

    async def before_step(self, client: DynamoClient, step: Step) -> None:
        """Runs before the requests of a step are built (e.g. to re-read uncertain state)."""
        return

    @abstractmethod
    def request(self, worker: int, step: Step) -> Call | None:
        """The op ``worker`` issues in ``step``; None to sit this race out."""

    @property
    def one_request(self) -> bool:
        """Whether every op is the one request of its ``Call``: ``execute`` is this class's own and the run is
        not ``--unsafe``. The runner then sends a race's requests with no task per worker."""
        return type(self).execute is Workload.execute and not self.unsafe

    async def execute(self, client: DynamoClient, call: Call) -> Outcome:
        """Send a worker's op: one call, or the unsafe variant's read-then-write."""
        if self.unsafe:
            return await self.execute_unsafe(client, call)
        return await client.send(call.request, call.prepared)

    async def execute_unsafe(self, client: DynamoClient, call: Call) -> Outcome:
        """The naive way to do ``call``: read, decide in the client, write unconditionally."""
        raise UsageError(f"workload {self.name!r} has no --unsafe variant")

    async def read_item(self, client: DynamoClient, key: str) -> Outcome:
        """A ConsistentRead of one key through the SDK path (used by unsafe variants)."""
        params = {"TableName": self.table, "Key": {self.key_attribute: {"S": key}}, "ConsistentRead": True}
        return await client.call(Request("get_item", params))

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Learn from an outcome; returns the value recorded in the completion event."""
        return outcome.item

    async def read_final(self, client: DynamoClient) -> dict[str, Any]:
        """Every touched key's item, read with ConsistentRead (``FINAL_READS_IN_FLIGHT`` at a time), as plain
        JSON (None if absent)."""
        gate = asyncio.Semaphore(FINAL_READS_IN_FLIGHT)

        async def read(key: str) -> tuple[str, Any]:
            async with gate:
                resp = await client.raw.get_item(TableName=self.table, ConsistentRead=True,
                                                 Key={self.key_attribute: {"S": key}})
            return key, plain_item(resp.get("Item"))

        return dict(await asyncio.gather(*(read(key) for key in self.all_keys())))

    def contracts(self) -> list[Contract]:
        """What the checker needs from the requests; default: what ``check`` declares on an empty history.
        A sustained loop's ops are the built-in workloads' own, checked by their own sustained checkers."""
        return [] if self.sustained else declared_contracts(self)

    def validate_contract(self) -> None:
        """Raise a one-line UsageError when the first race's requests lack what the checker needs.

        A broken contract (say, items without the checker's token) would otherwise be reported as an
        INVALID database after the run; this runs before anything is sent.
        """
        problems = contract_problems(self)
        if problems:
            raise UsageError(contract_message(self, problems))

    @staticmethod
    def validate_contracts(workloads: Iterable[Workload]) -> None:
        """``validate_contract`` of every workload, in order (the run calls it before it starts anything)."""
        for workload in workloads:
            workload.validate_contract()

    @classmethod
    @abstractmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Pure checker: (this workload's ops, final state, run config) → verdict."""
