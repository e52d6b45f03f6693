"""A Put/Update/Delete on an item that an in-flight TransactWriteItems holds must be refused.

AWS answers such a write with TransactionConflictException (or cancels the transaction with reason
TransactionConflict). The probe fires one transaction and many single-item writes on the same item
together, repeats that a bounded number of times, and decides from the recorded send/answer times
whether the writes really overlapped the transaction: accepted overlapping writes and never a conflict
is a difference; no overlap at all proves nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from harness.conform.client import ConformClient, Reply
from harness.conform.probe import Cell, Probe
from harness.conform.probes.common import item, key, n, reason_codes, s
from harness.conform.probes.documented import TRANSACTION_CONFLICT

ATTEMPTS = 50
BUDGET_S = 10.0  # no new attempt after this
# Stop early once this many writes were accepted while in flight with a transaction, without one conflict:
# AWS documents that a write reaching an item a transaction holds is refused, so after that many chances
# more attempts would add little.
ENOUGH_OVERLAPS = 200
# A backend that refuses the transaction this many times in a row (no TransactWriteItems at all, say) has
# nothing to show: repeating it would only spend the budget.
REFUSALS_TO_STOP = 3
WRITERS = 20  # single-item writes fired with each transaction
# Other items in the transaction, with some payload: a bigger transaction stays in flight longer on a
# server that prepares and commits item by item, so more writes can land inside it.
TX_OTHERS = 10
PAYLOAD = "x" * 2000
HOT = "hot"
WRITE_OPS = ("put", "update", "delete")
CONFLICT_ERROR = "TransactionConflictException"
CONFLICT_REASON = "TransactionConflict"


@dataclass
class Timed:
    """One call of an attempt: what it was, when it left and was answered (monotonic ns), what came back."""

    op: str  # transaction, put, update, delete
    invoke_ns: int
    complete_ns: int
    outcome: str  # "ok" or the error code
    reasons: list[str | None] = field(default_factory=list)  # a cancelled transaction's reason codes

    def overlaps(self, other: Timed) -> bool:
        """True when the two were in flight together (each sent before the other was answered)."""
        return self.invoke_ns < other.complete_ns and other.invoke_ns < self.complete_ns

    def inside(self, other: Timed) -> bool:
        """True when this one was sent after ``other`` and answered before it."""
        return other.invoke_ns <= self.invoke_ns and self.complete_ns <= other.complete_ns


@dataclass
class Attempt:
    """One transaction and the single-item writes fired with it."""

    transaction: Timed
    writes: list[Timed]

    def conflict(self) -> str | None:
        """How this attempt showed a conflict, if it did."""
        if any(w.outcome == CONFLICT_ERROR for w in self.writes):
            count = sum(w.outcome == CONFLICT_ERROR for w in self.writes)
            return f"{count} single-item write(s) got {CONFLICT_ERROR}"
        if CONFLICT_REASON in self.transaction.reasons:
            return f"the transaction was cancelled with reason {CONFLICT_REASON}"
        if self.transaction.outcome == CONFLICT_ERROR:
            return f"the transaction got {CONFLICT_ERROR}"
        return None

    def accepted_overlaps(self) -> list[Timed]:
        """Writes the server accepted while the (accepted) transaction was in flight."""
        if self.transaction.outcome != "ok":
            return []
        return [w for w in self.writes if w.outcome == "ok" and w.overlaps(self.transaction)]


def decide(attempts: list[Attempt]) -> Cell:
    """The verdict from the recorded history alone (a pure function: the tests feed it recorded attempts)."""
    evidence = _evidence(attempts)
    for number, attempt in enumerate(attempts, 1):
        found = attempt.conflict()
        if found:
            return Cell.conforms(f"{found} (attempt {number} of {len(attempts)})", **evidence)
    accepted = [w for a in attempts for w in a.accepted_overlaps()]
    if accepted:
        inside = sum(w.inside(a.transaction) for a in attempts for w in a.accepted_overlaps())
        shown = sum(bool(a.accepted_overlaps()) for a in attempts)
        return Cell.differs(
            f"accepted {len(accepted)} overlapping writes, never TransactionConflict ({shown} of {len(attempts)} "
            f"attempts had a Put/Update/Delete on the item in flight with an accepted TransactWriteItems on it; "
            f"{inside} of the writes were sent after the transaction and answered before it)", **evidence)
    if not attempts:
        return Cell.inconclusive("no attempt was made", **evidence)
    if not any(a.transaction.outcome == "ok" for a in attempts):
        refused = ", ".join(f"{code} ×{count}" for code, count in evidence["transaction_outcomes"].items())
        return Cell.inconclusive(f"no transaction succeeded ({refused}): no write could overlap one", **evidence)
    return Cell.inconclusive(f"no write overlapped an accepted transaction in {len(attempts)} attempts: "
                             "the history shows no contention to judge", **evidence)


def _evidence(attempts: list[Attempt]) -> dict[str, Any]:
    writes = Counter(w.outcome for a in attempts for w in a.writes)
    best = max(attempts, key=lambda a: len(a.accepted_overlaps()), default=None)
    return {
        "attempts": len(attempts),
        "writes": sum(len(a.writes) for a in attempts),
        "write_outcomes": dict(writes),
        "transaction_outcomes": dict(Counter(a.transaction.outcome for a in attempts)),
        "accepted_overlapping": sum(len(a.accepted_overlaps()) for a in attempts),
        "timeline_ms": _timeline(best) if best else [],
    }


def _timeline(attempt: Attempt) -> list[list[Any]]:
    """``[op, sent ms, answered ms, outcome]`` for one attempt, times from the transaction's send."""
    zero = attempt.transaction.invoke_ns
    return [[t.op, round((t.invoke_ns - zero) / 1e6, 3), round((t.complete_ns - zero) / 1e6, 3), t.outcome]
            for t in sorted([attempt.transaction, *attempt.writes], key=lambda t: t.invoke_ns)]


class TransactionConflict(Probe, behaviour=TRANSACTION_CONFLICT):
    """TransactionConflictException for a write on an item held by an in-flight transaction."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """Rounds of one transaction and WRITERS writes on one item, until a conflict shows, ENOUGH_OVERLAPS
        writes were accepted in flight with transactions, the transaction was refused REFUSALS_TO_STOP times in a row,
        ATTEMPTS rounds were made or BUDGET_S passed."""
        await client.put(table, item(HOT, v=s("start")))
        attempts: list[Attempt] = []
        deadline = time.monotonic() + BUDGET_S
        overlaps = 0
        while len(attempts) < ATTEMPTS and time.monotonic() < deadline and overlaps < ENOUGH_OVERLAPS:
            attempts.append(await self._attempt(client, table, len(attempts)))
            if attempts[-1].conflict():
                break
            overlaps += len(attempts[-1].accepted_overlaps())
            recent = attempts[-REFUSALS_TO_STOP:]
            if len(recent) == REFUSALS_TO_STOP and all(a.transaction.outcome != "ok" for a in recent):
                break
        return decide(attempts)

    async def _attempt(self, client: ConformClient, table: str, number: int) -> Attempt:
        transaction = [{"Update": {"TableName": table, "Key": key(HOT), "UpdateExpression": "SET #v = :v",
                                   "ExpressionAttributeNames": {"#v": "v"},
                                   "ExpressionAttributeValues": {":v": s(f"tx-{number}")}}}]
        transaction += [{"Put": {"TableName": table, "Item": item(f"other-{i}", p=s(PAYLOAD), a=n(number))}}
                        for i in range(TX_OTHERS)]
        # The transaction is scheduled first; the writes follow as fast as the client can send them, so
        # they spread over the time it is in flight. Whether they overlapped is read from the times.
        calls = [_timed("transaction", client.call("transact_write_items", TransactItems=transaction))]
        for w in range(WRITERS):
            op = WRITE_OPS[w % len(WRITE_OPS)]
            operation, params = _write(op, table, number, w)
            calls.append(_timed(op, client.call(operation, **params)))
        done = await asyncio.gather(*calls)
        return Attempt(done[0], done[1:])


async def _timed(op: str, call: Awaitable[Reply]) -> Timed:
    """Await one call and keep its times and outcome."""
    reply = await call
    reasons = reason_codes(reply.data.get("CancellationReasons")) if not reply.ok else []
    return Timed(op, reply.invoke_ns, reply.complete_ns, "ok" if reply.ok else str(reply.code), reasons)


def _write(op: str, table: str, number: int, writer: int) -> tuple[str, dict[str, Any]]:
    """The operation name and parameters of one single-item write on the hot item."""
    value = s(f"w-{number}-{writer}")
    if op == "put":
        return "put_item", {"TableName": table, "Item": item(HOT, v=value)}
    if op == "update":
        return "update_item", {"TableName": table, "Key": key(HOT), "UpdateExpression": "SET #w = :w",
                               "ExpressionAttributeNames": {"#w": "w"}, "ExpressionAttributeValues": {":w": value}}
    return "delete_item", {"TableName": table, "Key": key(HOT)}
