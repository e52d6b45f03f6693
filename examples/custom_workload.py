"""A custom workload: W workers race to claim the same coupon code; only one may get it.

Run it like a built-in one (from the repository root, or with ``examples`` importable)::

    stress run --workload examples.custom_workload:CouponClaim --workers 200 --keys 5
    stress run --workload examples.custom_workload:CouponClaim --unsafe   # must come out invalid

A workload subclasses :class:`workloads.base.Workload` and provides:

* ``name`` (for a workload outside the harness: its ``module:Class`` spec, so that `stress check`
  can load it again from a run directory) and ``key_attribute`` (the table's string hash key);
* ``key_names(round_)``: the keys raced in a round (here: fresh coupon codes every round);
* ``request(worker, step)``: the op ``worker`` sends in a race, as a :class:`workloads.base.Call`
  (the ``f`` name and value recorded in the history, and the DynamoDB request to send);
* ``check(ops, final_state, config)``: a pure checker returning a :class:`harness.checker.verdict.Verdict`.
  Here the registration checker is reused: exactly one claim wins each code, the stored item is the
  winner's, and every loser's ALL_OLD item is the winner's. It needs a ``RequestId`` token unique
  per worker in every item and Call value, ``Request(token=...)``, ``ALL_OLD`` and the Call named
  like its ``f``; the run checks that before it sends anything (docs/workloads.md);
* optionally ``execute_unsafe`` (with ``supports_unsafe = True``): the naive read-then-write way,
  a negative control the checker must catch;
* optionally ``register_op`` and ``register_attribute`` (and ``register_initial``): the workload's keys as
  registers, so that `stress export` writes its ops in the words of Jepsen's cas-register, each key ending
  with a read of what the final state holds, and `stress check-history` or Knossos can check the file. Here a
  claim is a CAS from nothing to its RequestId.
"""

from __future__ import annotations

from typing import Any

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, OK, Op
from workloads.base import Call, Step, Workload
from workloads.registration import check_unique_writes


class CouponClaim(Workload):
    """``put_item`` of a claim guarded by ``attribute_not_exists(Code)``: one winner per coupon."""

    name = "coupon-claim"  # run.json keeps the `module:Class` spec, so `stress check` finds the class again
    description = "claim a coupon code: put guarded by attribute_not_exists(Code)"
    key_attribute = "Code"
    supports_unsafe = True
    independent_steps = True  # requests never depend on earlier outcomes
    register_attribute = "RequestId"  # who holds the coupon, as a register (see register_op)

    @classmethod
    def register_op(cls, f: str, value: Any) -> tuple[str, Any] | None:
        """A claim, as Jepsen's cas-register sees it: a CAS from nothing to its RequestId."""
        return ("cas", [None, value["RequestId"]]) if f == "claim" else None

    def key_names(self, round_: int) -> list[str]:
        """Fresh coupon codes every round: a coupon can only be claimed once."""
        return [f"{self.config.key_prefix}COUPON-R{round_}-{i:04d}" for i in range(self.config.keys)]

    def request(self, worker: int, step: Step) -> Call:
        """Worker ``worker`` claims ``step.key`` for its customer."""
        claim = {"Code": step.key, "Customer": f"customer-{worker}",
                 "RequestId": f"{self.config.run_id}/{step.key}/w{worker}"}
        params = {"TableName": self.table, "Item": typed_item(claim),
                  "ConditionExpression": "attribute_not_exists(#code)",
                  "ExpressionAttributeNames": {"#code": self.key_attribute},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call("claim", claim, Request("put_item", params, token=("RequestId", claim["RequestId"])))

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read the coupon; if unclaimed, put the claim without a condition."""
        read = await self.read_item(client, call.value["Code"])
        if read.type != OK:
            return read
        if read.item is not None:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
        return await client.call(Request("put_item", {"TableName": self.table, "Item": typed_item(call.value)}))

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Nothing to record on completion (the claim is in the invoke value)."""
        return None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """One winner per coupon, stored claim = winner's, losers saw the winner's claim."""
        return check_unique_writes(ops, final_state, f="claim")
