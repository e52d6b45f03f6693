"""A lease lock on conditional writes: workers take, hold and hand over one lock item per key.

* **acquire** — ``put_item`` of ``{LockId, Owner: token, Expires: now + lease}`` if
  ``attribute_not_exists(LockId) OR Expires < :now``: a free lock, or one whose lease ran out, is taken over.
* **release** — ``delete_item`` if ``Owner = :me``: a caller that lost its lock (its lease ran out and someone
  took over) must be refused, never delete the new owner's lock.

``now`` is the client's clock: the history's own (``harness.history.events.time_ns``, CLOCK_MONOTONIC, one
clock for every worker of the machine, ``--processes`` included), so the checker compares a lease's end
with the ops' times directly. Every lock writes ``Expires`` in that clock's nanoseconds; a lock client on
several machines would need wall-clock time and a bound on their skew, which a one-machine run does not.

``--pattern burst`` (default): each round, all workers race to acquire each lock at one gun, then the holder
releases it. Round 0's holders do not release (with two rounds or more): round 1 waits until their leases ran
out, races the other workers to take the expired locks over, and the stale holders then try to release what
they no longer hold — refused, or the server deleted another's lock. ``--pattern sustained``: ``--per-key``
workers per lock loop acquire → hold (``hold_s``, then a read of the lock) → release; the first worker of
each key abandons its first lock of the round, so it is taken over once its lease ran out, and releases it
late.

``--unsafe``: acquire reads the lock and, if it looked free or expired, puts it with no condition; release
reads it and deletes it with no condition if it looked like the caller's own. Two workers that read the
same free lock both take it: the checker must report overlapping holders. The checker is
``workloads.lease_check``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, Op, time_ns
from workloads.base import Call, Step, Workload
from workloads.lease_check import ACQUIRE, READ, RELEASE, check_leases

# The phases of a burst round on one key, carried in Step.n (a burst step has no loop position of its own).
RACE, STALE, HANDOVER = 0, 1, 2
HOLDING, CHECKED, UNSURE = "holding", "checked", "unsure"
CONDITION_PARAMS = ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues",
                    "ReturnValuesOnConditionCheckFailure")


@dataclass
class Lock:
    """What a worker believes about its lock on one key."""

    token: str
    expires: int
    state: str = HOLDING  # holding: acquired, not yet checked; checked: read (release next); unsure: info


class LeaseLock(Workload):
    """`put_item` if `attribute_not_exists(LockId) OR Expires < :now`, `delete_item` if `Owner = :me`."""

    name = "lease-lock"
    description = "a lease lock: acquire if free or expired, hold, release if still the owner"
    key_attribute = "LockId"
    default_rounds = 3  # fresh locks (abandoned), expired locks taken over, released locks taken again
    supports_unsafe = True
    supports_sustained = True
    one_clock = True  # leases end on the history's clock (see the module docstring)
    # A round has several steps on one lock (the race, then the release), so "winners per race", counted
    # per key and round over every write, would count the release as a second winner.
    races_one_item = False
    # Short, so that a run of a few seconds sees leases run out and be taken over; long next to a request, so
    # a holder keeps its lock (measured with 200 workers on 2 shared cores: p50 165 ms, p99 305 ms).
    lease_s: ClassVar[float] = 1.0
    # How long a sustained holder holds before it reads and releases its lock: long enough that two holders
    # let in by an unsafe acquire overlap in time, short next to the lease.
    hold_s: ClassVar[float] = 0.005

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease_ns = int(self.lease_s * 1e9)
        # burst: round 0's holders walk away when a later round can take their expired locks over
        self.abandon_round = 0 if not self.sustained and self.rounds >= 2 else None
        self.mine: dict[tuple[int, str], Lock] = {}  # (worker, key) → the lock it holds or may hold
        self.stale: dict[tuple[int, str], Lock] = {}  # (worker, key) → a lock it walked away from
        self.abandoned: set[tuple[int, str, int]] = set()  # (worker, key, round) that walked away
        self.expired_after: dict[str, int] = {}  # burst: key → when every lease of the abandon round is over

    def key_names(self, round_: int) -> list[str]:
        """The same locks every round: each round takes over what the one before left."""
        return [f"{self.config.key_prefix}lock-{i:04d}" for i in range(self.config.keys)]

    def round_steps(self, round_: int) -> Iterator[Step]:
        """Burst: per lock, the acquire race, the stale holders' releases (after an abandon round), the
        holder's release (not in the abandon round). Sustained: the base class's one loop step."""
        if self.sustained:
            yield from super().round_steps(round_)
            return
        for key in self.key_names(round_):
            yield Step(round_, key, n=RACE)
            if self.abandon_round is not None and round_ == self.abandon_round + 1:
                yield Step(round_, key, n=STALE)
            if round_ != self.abandon_round:
                yield Step(round_, key, n=HANDOVER)

    def planned_requests(self, rate: float | None = None) -> Counter[str]:
        """Burst: every worker's put per race, at most two deletes per lock and round (the unsafe variant reads
        before each); sustained: the base class's bound."""
        if self.sustained:
            return super().planned_requests(rate)
        races = self.config.keys * self.rounds
        reads = (self.config.workers + 2) * races if self.unsafe else 0
        return Counter({"put_item": self.config.workers * races, "delete_item": 2 * races,
                        "get_item": reads + len(self.all_keys())})

    async def before_step(self, client: Any, step: Step) -> None:
        """Before the race after the abandon round: wait until the walked-away leases ran out, so the race takes
        expired locks over (``Expires < :now``) instead of being refused by live ones."""
        if self.sustained or step.n != RACE or self.abandon_round is None or step.round != self.abandon_round + 1:
            return
        until = self.expired_after.get(step.key)
        while until is not None and time_ns() <= until:
            await asyncio.sleep(max(until - time_ns(), 0) / 1e9 + 0.001)

    def request(self, worker: int, step: Step) -> Call | None:
        """This worker's op: burst by the step's phase, sustained by where its cycle is."""
        slot = (worker, step.key)
        if self.sustained:
            stale = self.stale.get(slot)
            if stale is not None and time_ns() > stale.expires:
                return self.release_call(step.key, stale.token)  # the walked-away holder comes back, too late
            lock = self.mine.get(slot)
            if lock is None:
                return self.acquire_call(worker, step)
            return self.read_call(step.key, lock) if lock.state == HOLDING else self.release_call(step.key, lock.token)
        if step.n == RACE:
            # A holder that walked away is away: it sits the takeover race out and comes back to release.
            return None if slot in self.stale else self.acquire_call(worker, step)
        lock = self.stale.get(slot) if step.n == STALE else self.mine.get(slot)
        if lock is None:
            return None  # nothing to release
        return self.release_call(step.key, lock.token)

    def acquire_call(self, worker: int, step: Step) -> Call:
        """The conditional put of a fresh lock (token unique per run, key, worker and op)."""
        now = time_ns()
        token = f"{self.config.run_id}/{step.key}/w{worker}/r{step.round}n{step.n}"
        item = {self.key_attribute: step.key, "Owner": token, "Expires": now + self.lease_ns}
        params = {"TableName": self.table, "Item": typed_item(item),
                  "ConditionExpression": "attribute_not_exists(#id) OR #exp < :now",
                  "ExpressionAttributeNames": {"#id": self.key_attribute, "#exp": "Expires"},
                  "ExpressionAttributeValues": {":now": {"N": str(now)}},
                  "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        value = {"Owner": token, "Expires": item["Expires"], "Now": now}
        return Call(ACQUIRE, value, Request("put_item", params, token=("Owner", token)))

    def release_call(self, key: str, token: str) -> Call:
        """The delete of ``key``'s lock if ``token`` still owns it (the deleted item comes back)."""
        params = {"TableName": self.table, "Key": {self.key_attribute: {"S": key}},
                  "ConditionExpression": "#owner = :me", "ExpressionAttributeNames": {"#owner": "Owner"},
                  "ExpressionAttributeValues": {":me": {"S": token}},
                  "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call(RELEASE, {"Owner": token}, Request("delete_item", params))

    def read_call(self, key: str, lock: Lock) -> Call:
        """The holder's look at its lock (ConsistentRead), after holding it ``hold_s``."""
        params = {"TableName": self.table, "Key": {self.key_attribute: {"S": key}}, "ConsistentRead": True}
        return Call(READ, {"Owner": lock.token, "Expires": lock.expires}, Request("get_item", params))

    async def execute(self, client: Any, call: Call) -> Outcome:
        """Send the op; a holder's read first holds the lock ``hold_s`` (its critical section)."""
        if call.f == READ:
            await asyncio.sleep(self.hold_s)
        return await super().execute(client, call)

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read the lock, decide in the client, write with no condition (the race the conditions prevent)."""
        if call.f == READ:
            return await client.call(call.request)
        key = self._key_of(call)
        read = await self.read_item(client, key)
        if read.type != OK:
            return read
        held = read.item
        if call.f == ACQUIRE and held is not None and not held.get("Expires", 0) < call.value["Now"]:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=held)
        if call.f == RELEASE and (held is None or held.get("Owner") != call.value["Owner"]):
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=held)
        params = {k: v for k, v in call.request.params.items() if k not in CONDITION_PARAMS}
        return await client.call(Request(call.request.operation, params))

    def _key_of(self, call: Call) -> str:
        params = call.request.params
        return (params.get("Item") or params["Key"])[self.key_attribute]["S"]

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Update the worker's belief; returns the recorded result (see ``workloads.lease_check``)."""
        slot = (worker, step.key)
        if call.f == ACQUIRE:
            return self._acquired(slot, step, call, outcome)
        if call.f == READ:
            if slot in self.mine:
                self.mine[slot].state = CHECKED  # release next, whatever it saw: a lost lock must be refused
            return outcome.item.get("Owner") if outcome.type == OK and outcome.item else None
        if self.stale.get(slot) is not None and self.stale[slot].token == call.value["Owner"]:
            del self.stale[slot]
        elif slot in self.mine:
            del self.mine[slot]
        return {"deleted": outcome.item} if outcome.type == OK else None

    def _acquired(self, slot: tuple[int, str], step: Step, call: Call, outcome: Outcome) -> Any:
        lock = Lock(call.value["Owner"], call.value["Expires"])
        abandon_round = not self.sustained and step.round == self.abandon_round
        if abandon_round:
            # Every lease written in this race ends before this completion + lease (all were built before the gun).
            self.expired_after[step.key] = max(self.expired_after.get(step.key, 0), time_ns() + self.lease_ns)
        if outcome.type == FAIL:
            return None
        first_of_key = slot[0] % max(self.config.per_key, 1) == 0
        if abandon_round or (self.sustained and outcome.type == OK and first_of_key
                             and (slot[0], step.key, step.round) not in self.abandoned):
            self.abandoned.add((slot[0], step.key, step.round))
            self.stale[slot] = lock  # walks away (an indeterminate one too: it may hold it); comes back later
        else:
            lock.state = UNSURE if outcome.type == INFO else HOLDING
            self.mine[slot] = lock  # an indeterminate one may hold it: released next
        return {"Owner": lock.token, "replaced": outcome.item} if outcome.type == OK else None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Mutual exclusion with leases and both conditions (``workloads.lease_check``), either pattern."""
        return check_leases(ops, final_state)
