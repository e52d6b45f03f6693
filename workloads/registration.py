"""Duplicate registrations (tutorial step 3): every worker races to create the same username.

Each worker's ``put_item`` carries ``attribute_not_exists(Username)`` and a payload unique to the
worker (Email, RequestId). Invariants, per key: exactly one writer wins; the stored item is the
winner's payload; every loser failed with ConditionalCheckFailed and the ALL_OLD item it got back
is the winner's.

Under ``--pattern sustained`` each worker loops on its key through claim / release cycles: ``claim`` is
the same conditional put (a fresh RequestId per claim), ``release`` deletes the item on condition that it
still carries the worker's RequestId, and a worker that cannot know whether it holds the key (an
indeterminate answer) reads it first. The history is then one register per key holding the holder's
RequestId or nothing — a claim is a compare-and-set from nothing, a release one back to nothing — and
it must be linearizable, the final state included.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.checker.linearizability import CAS, CasRegisterModel, check_linearizable, make_call
from harness.checker.linearizability import Call as CheckedCall
from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, Op
from workloads.base import SUSTAINED, Call, Step, Workload
from workloads.contract import UniqueWritesContract, declare

CONDITION_PARAMS = ("ConditionExpression", "ExpressionAttributeNames", "ReturnValuesOnConditionCheckFailure")
UNKNOWN_HOLDER = object()  # a sustained worker that cannot know whether its last claim or release took effect
LINEARIZABILITY_TIME_LIMIT_S = 20.0


class Registration(Workload):
    """`put_item` guarded by `attribute_not_exists(Username)`, W workers per username."""

    name = "registration"
    description = "duplicate registrations guarded by attribute_not_exists(Username)"
    supports_unsafe = True
    supports_sustained = True
    independent_steps = True
    register_attribute = "RequestId"  # who holds the key (see register_op)

    @classmethod
    def register_op(cls, f: str, value: Any) -> tuple[str, Any] | None:
        """A key's holder as a register, as ``ClaimModel`` judges it: a registration or a claim is a CAS from
        nothing to its RequestId, a release one from its RequestId to nothing (a read, of the RequestId, is a
        register read as recorded)."""
        if f in ("register", "claim") and isinstance(value, dict) and "RequestId" in value:
            return "cas", [None, value["RequestId"]]
        if f == "release" and isinstance(value, dict) and "RequestId" in value:
            return "cas", [value["RequestId"], None]
        return None  # a read is one already

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holding: dict[tuple[int, str], Any] = {}  # sustained: the RequestId a worker holds its key with

    def key_names(self, round_: int) -> list[str]:
        """Fresh usernames every round: a registration can only be raced once."""
        return [f"{self.config.key_prefix}user-r{round_}-{i:04d}" for i in range(self.config.keys)]

    def payload(self, worker: int, step: Step) -> dict[str, Any]:
        """The item a worker tries to create: unique per worker, key and run."""
        return {"Username": step.key, "Email": f"w{worker}.{step.key}@example.com",
                "RequestId": f"{self.config.run_id}/{step.key}/w{worker}"}

    def request(self, worker: int, step: Step) -> Call:
        """A conditional put of this worker's payload (sustained: the next op of its claim/release cycle)."""
        if self.sustained:
            return self.cycle_request(worker, step)
        return self.request_for(self.payload(worker, step))

    def cycle_request(self, worker: int, step: Step) -> Call:
        """Sustained: claim when free, release when holding, read when it cannot know which."""
        key_param = {self.key_attribute: {"S": step.key}}
        held = self.holding.get((worker, step.key))
        if held is UNKNOWN_HOLDER:
            params = {"TableName": self.table, "Key": key_param, "ConsistentRead": True}
            return Call("read", None, Request("get_item", params))
        if held is None:
            item = {"Username": step.key, "Email": f"w{worker}.{step.key}@example.com",
                    "RequestId": f"{self._token_prefix(worker, step.key)}r{step.round}n{step.n}"}
            call = self.request_for(item)
            return Call("claim", item, call.request)
        params = {"TableName": self.table, "Key": key_param,
                  "ConditionExpression": "#t = :mine", "ExpressionAttributeNames": {"#t": "RequestId"},
                  "ExpressionAttributeValues": {":mine": {"S": held}},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call("release", {"RequestId": held}, Request("delete_item", params))

    def request_for(self, item: dict[str, Any]) -> Call:
        """The conditional put of ``item`` (``attribute_not_exists`` on the key, ALL_OLD on failure)."""
        params = {"TableName": self.table, "Item": typed_item(item),
                  "ConditionExpression": "attribute_not_exists(#k)",
                  "ExpressionAttributeNames": {"#k": self.key_attribute},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call("register", item, Request("put_item", params, token=("RequestId", item["RequestId"])))

    def _token_prefix(self, worker: int, key: str) -> str:
        return f"{self.config.run_id}/{key}/w{worker}/"

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read the username; if it is free, put without a condition (the race the condition prevents); a
        release reads it and deletes it without a condition when it is still ours."""
        if call.f == "read":
            return await client.call(call.request)
        key = call.request.params["Key"][self.key_attribute]["S"] if call.f == "release" else call.value["Username"]
        read = await self.read_item(client, key)
        if read.type != OK:
            return read
        if call.f == "release":
            if not read.item or read.item.get("RequestId") != call.value["RequestId"]:
                return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
            params = {k: v for k, v in call.request.params.items()
                      if k not in (*CONDITION_PARAMS, "ExpressionAttributeValues")}
            return await client.call(Request("delete_item", params))
        if read.item is not None:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
        params = {k: v for k, v in call.request.params.items() if k not in CONDITION_PARAMS}
        return await client.call(Request("put_item", params))

    def completed(self, worker: int, step: Step, call: Call, outcome: Any) -> Any:
        """Burst: nothing to learn (a registration is raced once). Sustained: whether the worker now holds its
        key; a read records the RequestId it saw (None for a free key)."""
        if not self.sustained:
            return None
        slot = (worker, step.key)
        if call.f == "read":
            if outcome.type != OK:
                return None
            holder = outcome.item.get("RequestId") if outcome.item else None
            mine = isinstance(holder, str) and holder.startswith(self._token_prefix(worker, step.key))
            self.holding[slot] = holder if mine else None
            return holder
        if outcome.type == INFO:
            self.holding[slot] = UNKNOWN_HOLDER
        elif call.f == "claim":
            self.holding[slot] = call.value["RequestId"] if outcome.type == OK else None
        else:
            self.holding[slot] = None  # released, or it was not ours any more
        return None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Exactly one winner per key, the stored item is the winner's, every loser saw the winner (sustained:
        the claims, releases, reads and final state are linearizable as one register per key)."""
        if config.get("pattern") == SUSTAINED:
            return check_claims(ops, final_state)
        return check_unique_writes(ops, final_state, f="register")


class ClaimModel(CasRegisterModel):
    """A key's holder as a register: ``claim`` sets it from nothing, ``release`` returns it to nothing."""

    name = "claim-release"

    def prepare(self, op: Op) -> CheckedCall | None:
        """claim: cas(None → its RequestId); release: cas(its RequestId → None); read: the RequestId seen."""
        if op.f == "claim":
            return make_call(op, CAS, None, op.value["RequestId"])
        if op.f == "release":
            return make_call(op, CAS, op.value["RequestId"], None)
        return super().prepare(op)


def check_claims(ops: list[Op], final_state: dict[str, Any]) -> Verdict:
    """Sustained registration: linearizable claims, releases and reads per key, ending at the stored item."""
    checked = [op for op in ops if op.f in ("claim", "release", "read")]
    last = max((t for op in checked for t in (op.invoke_time, op.complete_time or 0)), default=0)
    next_index = max((op.index for op in ops), default=0) + 1
    for n, key in enumerate(sorted({op.key for op in checked} & set(final_state))):
        stored = final_state[key]
        # The final state, read after every op ended, as one more read: the register must end there.
        checked.append(Op(next_index + n, "final-read", checked[0].workload, "read", key, None, last + 1, OK,
                          last + 2, result=stored.get("RequestId") if stored else None))
    verdict = check_linearizable(checked, model=ClaimModel(), initial=None,
                                 time_limit_s=LINEARIZABILITY_TIME_LIMIT_S)
    for key in sorted({op.key for op in checked} - set(final_state)):
        verdict.undecided(f"{key}: no final state recorded")
    return verdict


def check_unique_writes(ops: list[Op], final_state: dict[str, Any], f: str,
                        token_attr: str = "RequestId") -> Verdict:
    """The registration invariants over the ops named ``f``, keyed by ``op.key``.

    The contract (declared here, checked before a run by ``workloads.contract.UniqueWritesContract``): each
    op named ``f`` is a conditional ``put_item`` of the race's key whose item carries ``token_attr``, unique
    per worker; its Call value is the item (or holds the same token); its Request has ``token=(token_attr,
    that value)`` and ``ReturnValuesOnConditionCheckFailure='ALL_OLD'``. The token is how the stored item
    and each loser's ALL_OLD item are traced to their writer.
    """
    declare(UniqueWritesContract(f, token_attr))
    verdict = Verdict()
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.f == f:
            by_key[op.key].append(op)
    for key, key_ops in sorted(by_key.items()):
        _check_key(verdict, key, key_ops, final_state, token_attr)
    return verdict


def _check_key(verdict: Verdict, key: str, ops: list[Op], final_state: dict[str, Any],
               token_attr: str) -> None:
    winners = [op for op in ops if op.type == OK]
    maybes = [op for op in ops if op.type == INFO]
    by_token = {op.value.get(token_attr): op for op in ops if isinstance(op.value, dict)}
    if len(winners) > 1:
        writers = ", ".join(f"process {op.process} (op {op.index})" for op in winners)
        verdict.fail("multiple-winners", key, f"{len(winners)} writers won {key!r}: {writers}",
                     [op.index for op in winners])
    if key not in final_state:
        if maybes or not winners:
            verdict.undecided(f"{key}: no final state recorded")
        return
    stored = final_state[key]
    owner = by_token.get(stored.get(token_attr)) if stored else None
    if stored is not None and owner is None:
        verdict.fail("stored-item-unwritten", key, f"stored item of {key!r} was written by no op: {stored}",
                     [], stored=stored)
    elif len(winners) == 1 and stored is None:
        winner = winners[0]
        verdict.fail("acknowledged-write-lost", key, f"acknowledged write lost: op {winner.index} (process "
                     f"{winner.process}) won {key!r}, but the final state has no item for it", [winner.index])
    elif len(winners) == 1 and owner is not winners[0]:
        culprit = f" (stored item belongs to op {owner.index}, {owner.type})" if owner else " (item missing)"
        verdict.fail("stored-item-not-winner", key, f"{key!r} was won by op {winners[0].index} but the stored "
                     f"item is not the winner's{culprit}", [winners[0].index] + ([owner.index] if owner else []),
                     stored=stored)
    elif not winners and owner is not None and owner.type == FAIL:
        verdict.fail("stored-item-from-failed-op", key, f"{key!r} stores the payload of op {owner.index}, "
                     "which was reported as not applied", [owner.index], stored=stored)
    elif not winners and stored is None and not maybes and any(op.error == CONDITIONAL_FAILED for op in ops):
        # Rejected by the condition, so something must have stood there; ops that failed for other
        # reasons (validation, throttling, an unsupported operation) were simply not applied.
        verdict.fail("no-winner", key, f"nobody won {key!r} and no op is indeterminate", [op.index for op in ops])
    _check_losers(verdict, key, ops, stored, token_attr)


def _check_losers(verdict: Verdict, key: str, ops: list[Op], stored: dict[str, Any] | None,
                  token_attr: str) -> None:
    """A conditional failure that returned its ALL_OLD item must have seen the stored one.

    (Backends that ignore ReturnValuesOnConditionCheckFailure return no item; nothing to compare.)
    """
    for op in ops:
        if op.type != FAIL or op.error != CONDITIONAL_FAILED or op.old is None:
            continue
        if stored is not None and op.old.get(token_attr) != stored.get(token_attr):
            verdict.fail("loser-saw-other-item", key, f"op {op.index} failed against an item written by "
                         f"{op.old.get(token_attr)!r}, but {stored.get(token_attr)!r} is stored", [op.index],
                         old=op.old, stored=stored)
