"""Idempotent registrations (Pro tip 1): a retried request recognises its own earlier write.

Every logical request carries a request id, and its conditional put is
``attribute_not_exists(Username) OR RequestId = :rid``. The client retries a request whose outcome
is indeterminate (a lost response, a timeout) with the *same* request id, up to ``MAX_TRIES`` times
with a small jittered backoff; if the first attempt was applied, the retry's condition holds (the
item carries our id) and it succeeds instead of failing with ConditionalCheckFailed. The recorded
op is the logical request; its completion value lists every attempt (``tries``).

Invariants, per username: exactly one request id owns the stored item, and the item is exactly that
request's payload (no double write); no attempt of the owner reports failure; no other request
reports success; a request that failed saw the owner's item in its ALL_OLD.

``--unsafe`` drops the ``OR RequestId = :rid`` clause: after a lost acknowledgement the owner's
retry fails against its own item and the request is reported as failed — caught under lost-ack.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import FAIL, INFO, OK, Op
from workloads.base import Call, Step, Workload
from workloads.common import ops_by_key

MAX_TRIES = 4
BACKOFF_S = 0.01
SAFE_CONDITION = "attribute_not_exists(#k) OR #rid = :rid"
UNSAFE_CONDITION = "attribute_not_exists(#k)"

Send = Callable[[], Awaitable[Outcome]]


@dataclass
class LogicalOutcome(Outcome):
    """The outcome of a logical request, with one entry per attempt in ``tries``."""

    tries: list[dict[str, Any]] = field(default_factory=list)


def describe_try(outcome: Outcome) -> dict[str, Any]:
    """One attempt as plain JSON: its type, error and the RequestId of the ALL_OLD item it saw."""
    entry: dict[str, Any] = {"type": outcome.type}
    if outcome.error:
        entry["error"] = outcome.error
    if outcome.old is not None:
        entry["old"] = outcome.old.get("RequestId")
    return entry


async def retry_indeterminate(first: Send, resend: Send, max_tries: int, rng: random.Random) -> LogicalOutcome:
    """Await ``first()``, then ``resend()`` while the outcome is indeterminate, up to ``max_tries`` in all."""
    tries: list[dict[str, Any]] = []
    http_attempts = 0
    for attempt in range(max_tries):
        if attempt:
            await asyncio.sleep(rng.uniform(0, BACKOFF_S * 2**attempt))
        outcome = await (resend() if attempt else first())
        tries.append(describe_try(outcome))
        http_attempts += outcome.attempts
        if outcome.type != INFO:
            break
    return LogicalOutcome(outcome.type, error=outcome.error, attempts=http_attempts, item=outcome.item,
                          old=outcome.old, raw=outcome.raw, tries=tries)


class IdempotentRegistration(Workload):
    """Registrations with a request id that makes the client's own retries idempotent."""

    name = "idempotent-registration"
    description = "registrations guarded by attribute_not_exists(Username) OR RequestId = :rid, with retries"
    supports_unsafe = True
    independent_steps = True
    register_attribute = "RequestId"  # who owns the username (see register_op)

    @classmethod
    def register_op(cls, f: str, value: Any) -> tuple[str, Any] | None:
        """A logical request, as Jepsen's cas-register sees it: a CAS from nothing to its request id (its retries
        are inside the op; only they could find the id already there)."""
        return ("cas", [None, value["RequestId"]]) if f == "register" and isinstance(value, dict) else None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = random.Random(self.config.seed)

    def key_names(self, round_: int) -> list[str]:
        """Fresh usernames every round."""
        return [f"user-r{round_}-{i:04d}" for i in range(self.config.keys)]

    def payload(self, worker: int, step: Step) -> dict[str, Any]:
        """The item one logical request creates: unique per worker, key and run."""
        return {"Username": step.key, "Email": f"w{worker}.{step.key}@example.com",
                "RequestId": f"{self.config.run_id}/{step.key}/w{worker}"}

    def request(self, worker: int, step: Step) -> Call:
        """The conditional put; ``--unsafe`` leaves out the ``OR RequestId = :rid`` clause."""
        item = self.payload(worker, step)
        params: dict[str, Any] = {"TableName": self.table, "Item": typed_item(item),
                                  "ExpressionAttributeNames": {"#k": self.key_attribute},
                                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if self.unsafe:
            params["ConditionExpression"] = UNSAFE_CONDITION
            # No token either: the harness must not resolve what the naive client gets wrong.
            return Call("register", item, Request("put_item", params))
        params["ConditionExpression"] = SAFE_CONDITION
        params["ExpressionAttributeNames"]["#rid"] = "RequestId"
        params["ExpressionAttributeValues"] = {":rid": {"S": item["RequestId"]}}
        return Call("register", item, Request("put_item", params, token=("RequestId", item["RequestId"])))

    async def execute(self, client: Any, call: Call) -> Outcome:
        """The logical request: the prepared burst, then the same request id again while indeterminate."""
        return await retry_indeterminate(lambda: client.send(call.request, call.prepared),
                                         lambda: client.call(call.request), MAX_TRIES, self.rng)

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Record every attempt of the logical request."""
        return {"tries": outcome.tries} if isinstance(outcome, LogicalOutcome) else None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """One owner per username, whose every attempt succeeded; nobody else succeeded."""
        verdict = Verdict()
        for key, key_ops in ops_by_key((op for op in ops if isinstance(op.value, dict)), "register"):
            if key not in final_state:
                verdict.undecided(f"{key}: no final state recorded")
                continue
            check_idempotent_key(verdict, key, key_ops, final_state[key])
        return verdict


def tries_of(op: Op) -> list[dict[str, Any]]:
    """The attempts recorded for a logical request (empty if it never completed)."""
    result = op.result if isinstance(op.result, dict) else {}
    return [t for t in result.get("tries") or [] if isinstance(t, dict)]


def check_idempotent_key(verdict: Verdict, key: str, ops: list[Op], stored: dict[str, Any] | None) -> None:
    """The invariants for one username, given its stored item (None if absent)."""
    by_rid = {op.value.get("RequestId"): op for op in ops}
    owner_rid = stored.get("RequestId") if stored else None
    owner = by_rid.get(owner_rid)
    succeeded = [op for op in ops if op.type == OK]
    if stored is not None and owner is None:
        verdict.fail("stored-item-unwritten", key, f"{key!r} stores an item no request wrote: {stored}", [],
                     stored=stored)
    if owner is not None and stored != owner.value:
        verdict.fail("double-write", key, f"{key!r} is owned by request {owner_rid!r} (op {owner.index}), but "
                     f"the stored item is not its payload: another write landed on it", [owner.index],
                     stored=stored, payload=owner.value)
    if owner is not None:
        _check_owner(verdict, key, owner)
    _check_others(verdict, key, ops, owner_rid)
    if stored is None and not succeeded and not any(op.type == INFO for op in ops):
        verdict.fail("no-owner", key, f"nobody registered {key!r} and no request is indeterminate",
                     [op.index for op in ops])


def _check_owner(verdict: Verdict, key: str, owner: Op) -> None:
    """Every attempt of the owning request must report success (or be indeterminate)."""
    failed = [i for i, t in enumerate(tries_of(owner), 1) if t.get("type") == FAIL]
    if owner.type == FAIL or failed:
        attempt = f"attempt {failed[0]}" if failed else "its final attempt"
        error = next((t.get("error") for t in tries_of(owner) if t.get("type") == FAIL), owner.error)
        verdict.fail("owner-reported-failure", key, f"request {owner.value.get('RequestId')!r} (op {owner.index}) "
                     f"owns {key!r}, but {attempt} reported failure ({error}): a retry of an applied write "
                     "was reported as not applied", [owner.index], tries=tries_of(owner))


def _check_others(verdict: Verdict, key: str, ops: list[Op], owner_rid: str | None) -> None:
    """No other request succeeded; every failed request saw the owner's item."""
    for op in ops:
        rid = op.value.get("RequestId")
        if rid == owner_rid:
            continue
        if op.type == OK:
            what = f"{key!r} is owned by {owner_rid!r}" if owner_rid else f"{key!r} has no item"
            verdict.fail("acknowledged-write-lost", key, f"acknowledged write lost: request {rid!r} (op {op.index}) "
                         f"reported success, but {what}", [op.index])
        for t in tries_of(op):
            if t.get("type") == FAIL and "old" in t and owner_rid and t["old"] != owner_rid:
                verdict.fail("loser-saw-other-item", key, f"request {rid!r} (op {op.index}) failed against an "
                             f"item of {t['old']!r}, but {owner_rid!r} owns {key!r}", [op.index], old=t["old"])
