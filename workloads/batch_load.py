"""Bulk loads (Pro tip 2): load many records with per-item conditions, retry only what failed.

The run loads ``keys × RECORDS_PER_KEY`` records per round. Every ``PREEXISTING_EVERY``-th record
already exists (seeded in ``setup`` with ``Source = seed``), and every record is in the batch of
``DUPLICATES`` workers, so loaders collide. A step is one chunk of ``CHUNK`` records; each worker
loads its share of the chunk:

* ``batch-load``: one conditional ``put_item`` per record (``attribute_not_exists(Id)``,
  ``ALL_OLD`` on failure), a few at a time;
* ``batch-load-tx``: ``TransactWriteItems`` of at most 100 conditional puts, with a
  ``ClientRequestToken`` that is kept while an outcome is unknown (so a resend is idempotent) and
  renewed whenever the set of items changes.

A ConditionalCheckFailed item is a *conditional skip* (someone else has the record) — unless the
ALL_OLD item carries this load's own ``LoadedBy`` token, which proves an earlier attempt of ours
wrote it. That proof needs an earlier attempt that may have been applied: the SDK retried the put
(the client then resolves it to ``ok`` itself), or an earlier pass left the record indeterminate.
On a first attempt with nothing uncertain before it, a correct server cannot refuse the put against
our own write, so the load does not count it as written: it records the raw answer in
``refused_own`` and the checker reports it. Only unresolved items (indeterminate, throttled,
cancelled for another item's sake) are retried, with jittered backoff, up to ``MAX_TRIES`` times.
The completion value of a load reports ``written``, ``skipped``, ``unknown`` and ``refused_own``
record ids and the counts ``first_try``, ``conditional_skips``, ``resolved_own`` (written on the
proof of our own ``LoadedBy``), ``retries`` (item resends) and ``requests`` (HTTP requests), so a
history can be summed; the op's ``attempts`` is the number of passes over the batch.

Invariants, per record: present exactly once (at most one load reports writing it and the stored
``LoadedBy`` is that load), none lost (an acknowledged write is in the final state; a record every
loader skipped exists), no pre-existing record overwritten, every record of a batch is accounted
for in its load's report, and no first attempt refused against the loader's own write.

``--unsafe`` is the naive loader: unconditional puts, and on any failure it resends the whole
batch (up to ``UNSAFE_PASSES`` times) — pre-existing records are overwritten and duplicates are written twice.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, INFO, OK, TRANSACTION_CANCELED, Op
from workloads.base import Call, Step, Workload
from workloads.common import scan_final

RECORDS_PER_KEY = 2
CHUNK = 100  # records per step; also the TransactWriteItems limit
TX_LIMIT = 100
DUPLICATES = 2
PREEXISTING_EVERY = 7
MAX_TRIES = 5
UNSAFE_PASSES = 3
BACKOFF_S = 0.01
PUT_CONCURRENCY = 4
SEED = "seed"

Tokens = dict[tuple[str, ...], str]  # ClientRequestToken per transaction's items (batch-load-tx)


@dataclass
class LoadOutcome(Outcome):
    """The outcome of one worker's load, with its per-record tally."""

    tally: dict[str, Any] = field(default_factory=dict)


def record_index(record_id: str) -> int:
    """The position of a record in its round (``rec-r0-00042`` → 42)."""
    return int(record_id.rsplit("-", 1)[1])


def is_preexisting(record_id: str) -> bool:
    """True for the records ``setup`` seeds before the load (a pure function of the id)."""
    return record_index(record_id) % PREEXISTING_EVERY == 3


def new_tally() -> dict[str, Any]:
    """An empty per-load report."""
    return {"written": [], "skipped": [], "unknown": [], "refused_own": [], "first_try": 0, "conditional_skips": 0,
            "resolved_own": 0, "retries": 0, "requests": 0}


class BatchLoad(Workload):
    """Bulk load with per-item conditional puts; retries only failed and unprocessed items."""

    name = "batch-load"
    description = "bulk load: per-item attribute_not_exists puts, retry only failed/unprocessed items"
    key_attribute = "Id"
    supports_unsafe = True
    independent_steps = True
    races_one_item = False  # a step covers many items

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = random.Random(self.config.seed)

    # ------------------------------------------------------------------ layout

    def records(self, round_: int) -> list[str]:
        """Every record loaded in one round."""
        return [f"rec-r{round_}-{i:05d}" for i in range(self.config.keys * RECORDS_PER_KEY)]

    def key_names(self, round_: int) -> list[str]:
        """One step per chunk of records."""
        chunks = -(-len(self.records(round_)) // CHUNK)
        return [f"chunk-r{round_}-{c:03d}" for c in range(chunks)]

    def chunk_records(self, step: Step) -> list[str]:
        """The records of one step's chunk."""
        c = int(step.key.rsplit("-", 1)[1])
        return self.records(step.round)[c * CHUNK:(c + 1) * CHUNK]

    def share(self, worker: int, step: Step) -> list[str]:
        """The records ``worker`` loads in ``step``: each record is in ``DUPLICATES`` workers' batches."""
        workers = self.config.workers
        mine = []
        for record in self.chunk_records(step):
            i = record_index(record)
            if worker in {(i + d) % workers for d in range(DUPLICATES)}:
                mine.append(record)
        return mine

    def item(self, record: str, request_id: str) -> dict[str, Any]:
        """The stored form of a record, stamped with the load that wrote it."""
        return {"Id": record, "Payload": f"data-{record}", "LoadedBy": request_id}

    # ------------------------------------------------------------------ setup and final state

    async def setup_round(self, client: Any, round_: int) -> None:
        """Seed the round's pre-existing records (marked ``Source = seed``)."""
        seeded = [{**self.item(r, SEED), "Source": SEED} for r in self.records(round_) if is_preexisting(r)]
        for start in range(0, len(seeded), 25):
            pending = [{"PutRequest": {"Item": typed_item(item)}} for item in seeded[start:start + 25]]
            for _ in range(20):
                resp = await client.raw.batch_write_item(RequestItems={self.table: pending})
                pending = resp.get("UnprocessedItems", {}).get(self.table, [])
                if not pending:
                    break
                await asyncio.sleep(0.05)

    def all_keys(self) -> list[str]:
        """Every record of the run (what the final state holds)."""
        return [r for round_ in range(self.rounds) for r in self.records(round_)]

    async def read_final(self, client: Any) -> dict[str, Any]:
        """A consistent scan of the table; records that are absent map to None."""
        return await scan_final(client, self.table, self.key_attribute, self.all_keys())

    # ------------------------------------------------------------------ requests

    def request(self, worker: int, step: Step) -> Call | None:
        """This worker's share of the chunk; None when it has no records in it."""
        mine = self.share(worker, step)
        if not mine:
            return None
        request_id = f"{self.config.run_id}/{step.key}/w{worker}"
        return Call("load", {"request": request_id, "records": mine}, self.put_request(mine[0], request_id))

    def put_request(self, record: str, request_id: str) -> Request:
        """The put of one record: conditional, or unconditional for ``--unsafe``."""
        params: dict[str, Any] = {"TableName": self.table, "Item": typed_item(self.item(record, request_id))}
        if not self.unsafe:
            params.update(ConditionExpression="attribute_not_exists(#id)", ExpressionAttributeNames={"#id": "Id"},
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
        return Request("put_item", params, token=("LoadedBy", request_id))

    async def execute(self, client: Any, call: Call) -> Outcome:
        """Load the batch; ``--unsafe`` resends everything on any failure."""
        request_id, records = call.value["request"], list(call.value["records"])
        tally = new_tally()
        load = self.load_all if self.unsafe else self.load_failed_only
        passes = await load(client, request_id, records, tally)
        kind = INFO if tally["unknown"] else OK
        # ``attempts`` of a load counts its passes over the batch (HTTP requests are in the tally).
        return LoadOutcome(kind, error="unresolved items" if tally["unknown"] else None, attempts=passes,
                           tally=tally)

    async def load_failed_only(self, client: Any, request_id: str, records: list[str],
                               tally: dict[str, Any]) -> int:
        """Send, settle what is known, resend only the rest (with backoff); returns the passes made."""
        pending, passes = records, 0
        tokens: Tokens = {}
        # Records an earlier pass left indeterminate: only for these may a resend meet our own write.
        uncertain: set[str] = set()
        for attempt in range(MAX_TRIES):
            passes += 1
            if attempt:
                tally["retries"] += len(pending)
                await asyncio.sleep(self.rng.uniform(0, BACKOFF_S * 2**attempt))
            results, tokens, requests = await self.send(client, request_id, pending, tokens)
            tally["requests"] += requests
            pending = []
            for record, outcome in results:
                verdict = settle(outcome, request_id, record in uncertain)
                if verdict == "written":
                    tally["written"].append(record)
                    tally["first_try"] += attempt == 0
                    # Written on the proof of our own LoadedBy in ALL_OLD (the SDK client resolves its retries).
                    tally["resolved_own"] += outcome.error == CONDITIONAL_FAILED or outcome.raw == CONDITIONAL_FAILED
                elif verdict == "skipped":
                    tally["skipped"].append(record)
                    tally["conditional_skips"] += 1
                elif verdict == "refused-own":
                    tally["refused_own"].append(record)
                else:
                    pending.append(record)
                    if outcome.type == INFO:
                        uncertain.add(record)
            if not pending:
                break
        tally["unknown"] = pending
        return passes

    async def load_all(self, client: Any, request_id: str, records: list[str], tally: dict[str, Any]) -> int:
        """The naive loader: unconditional puts; any failure resends the whole batch."""
        passes = 0
        for attempt in range(UNSAFE_PASSES):
            passes += 1
            if attempt:
                tally["retries"] += len(records)
            results, _, requests = await self.send(client, request_id, records, {})
            tally["requests"] += requests
            done = {record for record, outcome in results if outcome.type == OK}
            if attempt == 0:
                tally["first_try"] = len(done)
            tally["written"] = sorted(set(tally["written"]) | done)
            if len(done) == len(records):
                break
        tally["unknown"] = [r for r in records if r not in tally["written"]]
        return passes

    async def send(self, client: Any, request_id: str, records: list[str],
                   tokens: Tokens) -> tuple[list[tuple[str, Outcome]], Tokens, int]:
        """One pass over ``records``: per-record outcomes, the tokens to resend unknown ones with, and
        the HTTP requests made."""
        semaphore = asyncio.Semaphore(PUT_CONCURRENCY)

        async def put(record: str) -> tuple[str, Outcome]:
            async with semaphore:
                return record, await client.call(self.put_request(record, request_id))

        results = list(await asyncio.gather(*(put(r) for r in records)))
        return results, {}, sum(outcome.attempts for _, outcome in results)

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """The load's report: written/skipped/unknown records and the counts."""
        if not isinstance(outcome, LoadOutcome):
            return None
        return {"request": call.value["request"], **outcome.tally}

    # ------------------------------------------------------------------ checker

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Every record present once, none lost, none pre-existing overwritten, every item accounted for."""
        verdict = Verdict()
        loads = [op for op in ops if op.f == "load" and isinstance(op.value, dict)]
        loaders: dict[str, list[Op]] = defaultdict(list)
        for op in loads:
            for record in op.value.get("records", []):
                loaders[record].append(op)
            _check_accounted(verdict, op)
            _check_refused_own(verdict, op)
        for record in sorted(set(loaders) | {r for r, item in final_state.items() if item is not None}):
            if record not in final_state:
                verdict.undecided(f"{record}: no final state recorded")
                continue
            check_record(verdict, record, loaders.get(record, []), final_state[record])
        return verdict


class BatchLoadTx(BatchLoad):
    """The same bulk load through ``TransactWriteItems`` chunks of at most 100 conditional puts."""

    name = "batch-load-tx"
    description = "bulk load: TransactWriteItems chunks of <=100 conditional puts, retry only failed items"

    async def send(self, client: Any, request_id: str, records: list[str],
                   tokens: Tokens) -> tuple[list[tuple[str, Outcome]], Tokens, int]:
        """One transaction per ≤100 records; a transaction whose outcome is unknown keeps its token."""
        results: list[tuple[str, Outcome]] = []
        kept: Tokens = {}
        requests = 0
        for start in range(0, len(records), TX_LIMIT):
            chunk = tuple(records[start:start + TX_LIMIT])
            token = tokens.get(chunk) or self.new_token()
            outcome = await client.call(self.tx_request(list(chunk), request_id, token))
            requests += outcome.attempts
            results += split_tx_outcome(list(chunk), outcome)
            if outcome.type == INFO and not outcome.reasons:
                kept[chunk] = token  # nothing is known: resend exactly these items, idempotently
        return results, kept, requests

    def new_token(self) -> str:
        """A fresh ClientRequestToken (at most 36 characters)."""
        return f"{self.rng.getrandbits(128):032x}"

    def tx_request(self, records: list[str], request_id: str, token: str) -> Request:
        """A TransactWriteItems of conditional puts (unconditional for ``--unsafe``)."""
        items = [{"Put": self.put_request(record, request_id).params} for record in records]
        return Request("transact_write_items", {"TransactItems": items, "ClientRequestToken": token})


def settle(outcome: Outcome, request_id: str, uncertain_before: bool = False) -> str:
    """``written``, ``skipped``, ``refused-own`` or ``pending`` for one record's outcome.

    ``uncertain_before`` says an earlier pass left this record indeterminate (it may have been applied).
    A conditional failure whose ALL_OLD item carries our own ``LoadedBy`` proves that an earlier attempt
    wrote the record only if there was one that may have been applied: the SDK retried this put, or
    ``uncertain_before``. Otherwise the server refused our first attempt against our own write, which a
    correct server cannot do: ``refused-own``, neither written nor skipped, for the checker to report.
    """
    if outcome.type == OK:
        return "written"
    if outcome.error == CONDITIONAL_FAILED and outcome.old is not None:
        if outcome.old.get("LoadedBy") != request_id:
            return "skipped"
        return "written" if outcome.attempts > 1 or uncertain_before else "refused-own"
    if outcome.error == CONDITIONAL_FAILED and outcome.type != INFO:
        return "skipped"
    return "pending"


def split_tx_outcome(records: list[str], outcome: Outcome) -> list[tuple[str, Outcome]]:
    """Per-record outcomes of a transaction: all applied, a cancellation reason each, or unknown."""
    if outcome.type == OK:
        return [(r, Outcome(OK)) for r in records]
    if outcome.error == TRANSACTION_CANCELED and outcome.reasons and len(outcome.reasons) == len(records):
        # With a reused token an applied earlier attempt would have made this call succeed, so a
        # cancellation means nothing of this transaction was applied: the reasons are determinate.
        return [(r, Outcome("fail", error=CONDITIONAL_FAILED) if reason == "ConditionalCheckFailed"
                 else Outcome(INFO, error=reason)) for r, reason in zip(records, outcome.reasons, strict=True)]
    return [(r, Outcome(INFO, error=outcome.error)) for r in records]


def _check_accounted(verdict: Verdict, op: Op) -> None:
    """A completed load must report every record of its batch as written, skipped or unknown."""
    if op.type == INFO or not isinstance(op.result, dict):
        return
    reported = {r for name in ("written", "skipped", "unknown", "refused_own") for r in op.result.get(name, [])}
    missing = [r for r in op.value.get("records", []) if r not in reported]
    if missing:
        verdict.fail("record-unaccounted", op.key, f"load {op.value.get('request')!r} (op {op.index}) dropped "
                     f"{len(missing)} record(s) of its batch unreported, e.g. {missing[0]!r}", [op.index],
                     records=missing[:10])


def _check_refused_own(verdict: Verdict, op: Op) -> None:
    """A first attempt refused against the loader's own write: the server applied the put and said it did not."""
    if not isinstance(op.result, dict):
        return
    for record in op.result.get("refused_own", []):
        verdict.fail("refused-own-write", record, f"load {op.value.get('request')!r} (op {op.index}) got "
                     f"ConditionalCheckFailed on its first attempt at {record!r} with an ALL_OLD item carrying its "
                     "own LoadedBy: the server applied the put and answered that it refused it (nothing of this "
                     "load could have written it before, and a correct server cannot fail a first attempt against "
                     "the caller's own write)", [op.index], loaded_by=op.value.get("request"))


def _reported(ops: list[Op], record: str, name: str) -> list[Op]:
    return [op for op in ops if isinstance(op.result, dict) and record in op.result.get(name, [])]


def check_record(verdict: Verdict, record: str, ops: list[Op], stored: dict[str, Any] | None) -> None:
    """The invariants for one record, given the loads whose batch held it and its stored item."""
    writers = _reported(ops, record, "written")
    if is_preexisting(record):
        if stored is None or stored.get("Source") != SEED:
            by = stored.get("LoadedBy") if stored else None
            verdict.fail("preexisting-overwritten", record, f"pre-existing record {record!r} was overwritten "
                         f"(now {'absent' if stored is None else f'written by {by!r}'})",
                         [op.index for op in writers], stored=stored)
        for op in writers:
            verdict.fail("written-over-existing", record, f"load {op.value.get('request')!r} (op {op.index}) "
                         f"reports writing {record!r}, which existed before the load", [op.index])
        return
    if len(writers) > 1:
        names = ", ".join(f"{op.value.get('request')!r} (op {op.index})" for op in writers)
        verdict.fail("double-write", record, f"{record!r} was written {len(writers)} times: by {names}",
                     [op.index for op in writers])
    if stored is None:
        _check_absent(verdict, record, ops, writers)
    else:
        _check_owner(verdict, record, ops, writers, stored)


def _check_absent(verdict: Verdict, record: str, ops: list[Op], writers: list[Op]) -> None:
    if writers:
        verdict.fail("acknowledged-write-lost", record, f"acknowledged write lost: {record!r} was written by "
                     f"{writers[0].value.get('request')!r} (op {writers[0].index}) but is absent",
                     [op.index for op in writers])
    elif ops and all(op.type != INFO and isinstance(op.result, dict) for op in ops):
        verdict.fail("record-lost", record, f"{record!r} is absent, yet every load of it reports it skipped "
                     "(someone else has it)", [op.index for op in ops])
    elif ops:
        verdict.undecided(f"{record}: absent, and no load of it finished determinately")


def _check_owner(verdict: Verdict, record: str, ops: list[Op], writers: list[Op], stored: dict[str, Any]) -> None:
    owner_id = stored.get("LoadedBy")
    owner = next((op for op in ops if op.value.get("request") == owner_id), None)
    if owner is None:
        verdict.fail("stored-item-unwritten", record, f"{record!r} stores an item of {owner_id!r}, which did "
                     "not load it", [], stored=stored)
    elif owner in _reported(ops, record, "skipped"):
        verdict.fail("write-reported-skipped", record, f"{record!r} was written by {owner_id!r} (op "
                     f"{owner.index}), which reported it as a conditional skip", [owner.index], stored=stored)
    for op in writers:
        if op is not owner:
            verdict.fail("acknowledged-write-lost", record, f"acknowledged write lost: {op.value.get('request')!r} "
                         f"(op {op.index}) reports writing {record!r}, but {owner_id!r}'s item is stored",
                         [op.index], stored=stored)
