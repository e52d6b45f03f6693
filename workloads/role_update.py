"""Conflicting role updates (tutorial steps 4–5): a compare-and-set chain per key.

Every key starts as ``Role = member``. In each round all workers try ``SET #Role = :new`` with
``#Role = :expected`` (``Role`` is a reserved word, hence ``#Role``), where ``:new`` is unique per
worker and round and ``:expected`` is what the worker believes is current: ``member`` at first,
afterwards its own value if it won, or the ALL_OLD value its conditional failure returned. A
worker that cannot know (timeout, no ALL_OLD) reads the item with ConsistentRead instead of racing.
Under ``--pattern sustained`` each key's workers loop the same way without a barrier, starting from a
read, with a read every ``READ_EVERY`` ops; the whole history, reads included, goes to the linearizability
checker.

Invariants, per key: no two successful updates consumed the same value (a lost update); per round
at most one winner; a conditional failure never returns an item that satisfied its condition; the
successful updates form one chain from ``member`` and the stored value is the end of that chain.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from harness.checker.linearizability import check_linearizable
from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, Op
from workloads.base import SUSTAINED, Call, Step, Workload
from workloads.contract import CasContract, declare

INITIAL_ROLE = "member"
# Sustained loops CAS from what the last CAS taught (ALL_OLD on failure), not from a fresh read each time:
# every CAS on a key then has all its per-key contenders aiming at the same value, and no op is spent reading.
# On the window fake (1 broken check in 1,000, 2 ms window, 20 s, 10 runs) read-then-CAS caught it in 6 of 10
# runs; see the README's detection section for CAS-from-ALL_OLD. One op in READ_EVERY is still a read.
READ_EVERY = 8


class RoleUpdate(Workload):
    """Compare-and-set on `Role`, W workers per key per round."""

    name = "role-update"
    description = "conflicting role updates guarded by #Role = :expected (CAS chain)"
    default_rounds = 3
    supports_unsafe = True
    supports_sustained = True
    register_attribute = "Role"
    register_initial = INITIAL_ROLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.belief: dict[tuple[int, str], str | None] = {}

    async def setup_round(self, client: Any, round_: int) -> None:
        """Every key starts as an item with Role = member (later rounds continue the same chains)."""
        if round_:
            return
        for key in self.key_names(0):
            item = {self.key_attribute: key, "Email": f"{key}@example.com", "Role": INITIAL_ROLE}
            await client.raw.put_item(TableName=self.table, Item=typed_item(item))

    def planned_requests(self, rate: float | None = None) -> Counter[str]:
        """The races plus one seeding put per key."""
        planned = super().planned_requests(rate)
        planned["put_item"] += len(self.key_names(0))
        return planned

    def can_prepare_during(self, following: Step, racing: Step) -> bool:
        """A CAS depends only on earlier rounds of its own key (the worker's belief about it)."""
        return following.key != racing.key

    def request(self, worker: int, step: Step) -> Call:
        """A CAS from the believed value to a fresh one, or a read when the belief is unknown (sustained: at
        first, after an indeterminate CAS, and every ``READ_EVERY``-th op)."""
        key_param = {self.key_attribute: {"S": step.key}}
        expected = self.belief.get((worker, step.key), None if self.sustained else INITIAL_ROLE)
        if expected is None:
            params = {"TableName": self.table, "Key": key_param, "ConsistentRead": True}
            return Call("read", None, Request("get_item", params))
        new = f"w{worker}-r{step.round}" + (f"-n{step.n}" if self.sustained else "")
        params = {"TableName": self.table, "Key": key_param,
                  "UpdateExpression": "SET #Role = :new", "ConditionExpression": "#Role = :expected",
                  "ExpressionAttributeNames": {"#Role": "Role"},
                  "ExpressionAttributeValues": {":new": {"S": new}, ":expected": {"S": expected}},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call("cas", {"expected": expected, "new": new}, Request("update_item", params, token=("Role", new)))

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read Role; if it is what we expect, overwrite it without a condition (a lost-update race)."""
        if call.f == "read":
            return await client.call(call.request)
        read = await self.read_item(client, call.request.params["Key"][self.key_attribute]["S"])
        if read.type != OK:
            return read
        if not read.item or read.item.get("Role") != call.value["expected"]:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
        params = {k: v for k, v in call.request.params.items()
                  if k not in ("ConditionExpression", "ReturnValuesOnConditionCheckFailure")}
        params["ExpressionAttributeValues"] = {":new": params["ExpressionAttributeValues"][":new"]}
        return await client.call(Request("update_item", params))

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Update the worker's belief; record the value read (reads) or written (CAS)."""
        slot = (worker, step.key)
        if call.f == "read":
            role = outcome.item.get("Role") if outcome.type == OK and outcome.item else None
            self.belief[slot] = role
            return role
        if self.sustained and step.n % READ_EVERY == READ_EVERY - 1:
            self.belief[slot] = None  # a read now and then, so stale reads have a chance to show
        elif outcome.type == OK:
            self.belief[slot] = call.value["new"]
        elif outcome.type == FAIL and outcome.error == CONDITIONAL_FAILED and outcome.old:
            self.belief[slot] = outcome.old.get("Role")
        else:
            self.belief[slot] = None
        return call.value["new"] if outcome.type == OK else None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Lost updates, double winners, contradictory failures, the chain's end vs. the stored value, and
        linearizability of the CAS ops and reads (as a CAS register from ``member``) per key."""
        declare(CasContract("cas", attribute="Role"))
        verdict = Verdict()
        by_key: dict[str, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "cas":
                by_key[op.key].append(op)
        for key, key_ops in sorted(by_key.items()):
            stored = final_state.get(key, "missing")
            final_role = stored.get("Role") if isinstance(stored, dict) else None
            check_cas_key(verdict, key, key_ops, final_role, known=stored != "missing",
                          one_winner_per_round=config.get("pattern") != SUSTAINED)
        merge_linearizability(verdict, check_linearizable(
            [op for op in ops if op.f in ("cas", "read")], model="cas-register", initial=INITIAL_ROLE,
            time_limit_s=LINEARIZABILITY_TIME_LIMIT_S))
        return verdict


# A linearizability violation of one of these kinds restates a chain check's violation of the same key.
SAME_ANOMALY = {"lost-update": {"lost-update", "multiple-winners"},
                "cas-unwritten-expected": {"cas-unwritten-expected", "winner-off-chain"}}
LINEARIZABILITY_TIME_LIMIT_S = 10.0


def merge_linearizability(verdict: Verdict, found: Verdict) -> None:
    """Add the linearizability checker's findings to ``verdict``, skipping anomalies already reported.

    The chain checks name the smallest counterexample for lost updates and stray winners; the
    linearizability check adds what they cannot see (reads of impossible values, real-time order).
    """
    reported = {(v.key, v.kind) for v in verdict.violations}
    for v in found.violations:
        if any((v.key, kind) in reported for kind in SAME_ANOMALY.get(v.kind, {v.kind})):
            continue
        verdict.fail(v.kind, v.key, f"linearizability: {v.message}", v.ops, checker="linearizability", **v.details)
    for reason in found.unknowns:
        verdict.undecided(f"linearizability: {reason}")


def check_cas_key(verdict: Verdict, key: str, ops: list[Op], final_value: Any, *, known: bool = True,
                  initial: Any = INITIAL_ROLE, one_winner_per_round: bool = True) -> None:
    """The CAS-chain invariants for one key (values written must be unique); ``one_winner_per_round``: at
    most one winner per round too (not for a sustained loop, whose rounds are not races)."""
    ok_by_expected: dict[Any, list[Op]] = defaultdict(list)
    info_by_expected: dict[Any, list[Op]] = defaultdict(list)
    per_round: dict[Any, list[Op]] = defaultdict(list)
    for op in ops:
        if op.type == OK:
            ok_by_expected[op.value["expected"]].append(op)
            per_round[op.extra.get("round")].append(op)
        elif op.type == INFO:
            info_by_expected[op.value["expected"]].append(op)
        elif op.error == CONDITIONAL_FAILED and op.old and op.old.get("Role") == op.value["expected"]:
            verdict.fail("condition-held-but-failed", key, f"op {op.index} failed its condition "
                         f"Role = {op.value['expected']!r}, yet the item it got back has exactly that Role",
                         [op.index], old=op.old)
    for expected, winners in ok_by_expected.items():
        if len(winners) > 1:
            a, b = winners[0], winners[1]
            verdict.fail("lost-update", key, f"{len(winners)} updates of {key!r} all succeeded from "
                         f"Role = {expected!r} (e.g. op {a.index} → {a.value['new']!r} and op {b.index} → "
                         f"{b.value['new']!r}): all but one update was lost", [op.index for op in winners],
                         expected=expected)
    for round_, winners in per_round.items() if one_winner_per_round else ():
        if len(winners) > 1:
            verdict.fail("multiple-winners", key, f"round {round_} of {key!r} had {len(winners)} winners",
                         [op.index for op in winners], round=round_)
    end, on_chain = _walk_chain(initial, ok_by_expected, info_by_expected, final_value)
    for op in ops:
        if op.type == OK and op.index not in on_chain and len(ok_by_expected[op.value["expected"]]) == 1:
            verdict.fail("winner-off-chain", key, f"op {op.index} succeeded from Role = {op.value['expected']!r}, "
                         "a value the key never held on the chain of successful updates", [op.index])
    if not known:
        verdict.undecided(f"{key}: no final state recorded")
    elif final_value != end and not _reachable(end, final_value, info_by_expected):
        verdict.fail("final-value-mismatch", key, f"{key!r} stores Role = {final_value!r}, but the chain of "
                     f"successful updates ends at {end!r}", sorted(on_chain)[-1:], stored=final_value)


def _walk_chain(initial: Any, ok_by_expected: dict[Any, list[Op]], info_by_expected: dict[Any, list[Op]],
                final_value: Any) -> tuple[Any, set[int]]:
    """Follow successful CAS ops from ``initial``; indeterminate ops may bridge a gap, several in a row (under
    lost acks a value written by an unacknowledged CAS is often read and CASed from by another one)."""
    current, seen, on_chain = initial, {initial}, set()
    while True:
        step = ok_by_expected.get(current)
        path = [step[0]] if step else _bridge(current, ok_by_expected, info_by_expected, final_value)
        if not path:
            return current, on_chain
        on_chain.update(op.index for op in path)
        current = path[-1].value["new"]
        if current in seen:
            return current, on_chain
        seen.add(current)


def _bridge(start: Any, ok_by_expected: dict[Any, list[Op]], info_by_expected: dict[Any, list[Op]],
            final_value: Any) -> list[Op]:
    """The shortest run of indeterminate ops from ``start`` to a value a successful CAS (or the final state)
    continues from; empty when there is none."""
    frontier: list[tuple[Any, list[Op]]] = [(start, [])]
    seen = {start}
    while frontier:
        following: list[tuple[Any, list[Op]]] = []
        for value, path in frontier:
            for op in info_by_expected.get(value, ()):
                new = op.value["new"]
                if new in seen:
                    continue
                if new in ok_by_expected or new == final_value:
                    return [*path, op]
                seen.add(new)
                following.append((new, [*path, op]))
        frontier = following
    return []


def _reachable(start: Any, target: Any, info_by_expected: dict[Any, list[Op]]) -> bool:
    """True when indeterminate ops could have carried the value from ``start`` to ``target``."""
    frontier, seen = [start], {start}
    while frontier:
        value = frontier.pop()
        if value == target:
            return True
        for op in info_by_expected.get(value, ()):
            if op.value["new"] not in seen:
                seen.add(op.value["new"])
                frontier.append(op.value["new"])
    return False
