"""Seat booking, the worked example of docs/workloads.md: W customers race for each seat; one gets it.

From the repository root::

    stress run --workload examples.seat_booking:SeatBooking --workers 100 --keys 3
    stress run --workload examples.seat_booking:SeatBooking --workers 100 --keys 3 --unsafe   # caught: invalid

Each worker sends one ``put_item`` of its booking guarded by ``attribute_not_exists(SeatId)``. The
checker is the built-in ``check_unique_writes``; what it needs from every booking (checked before the
run sends anything) is what makes this different from a first attempt that forgets it:

* a token attribute (``RequestId``) unique per worker, in the item *and* in the Call value: it is how
  the checker traces the stored booking (and each loser's ALL_OLD) back to the op that wrote it;
* ``Request(token=("RequestId", …))``: how the client recognises a retried put that already won;
* ``ReturnValuesOnConditionCheckFailure="ALL_OLD"``: each loser must have seen the winner's booking;
* the key attribute ``SeatId`` equal to the race's key, and the Call named like the checker's ``f``.
"""

from __future__ import annotations

from typing import Any

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, OK, Op
from workloads.base import Call, Step, Workload
from workloads.registration import check_unique_writes

BOOK = "book"  # the op name in the history; the checker filters on it


class SeatBooking(Workload):
    """``put_item`` of a booking guarded by ``attribute_not_exists(SeatId)``: one customer per seat."""

    name = "seat-booking"
    description = "book a seat: put guarded by attribute_not_exists(SeatId)"
    key_attribute = "SeatId"
    supports_unsafe = True
    independent_steps = True  # no booking depends on an earlier outcome

    def key_names(self, round_: int) -> list[str]:
        """Fresh seats every round (a seat is booked once); ``key_prefix`` keeps a shared table apart."""
        return [f"{self.config.key_prefix}show-r{round_}-seat-{i:03d}" for i in range(self.config.keys)]

    def booking(self, worker: int, step: Step) -> dict[str, Any]:
        """The item ``worker`` tries to store: its customer, and a token unique per run, seat and worker."""
        return {"SeatId": step.key, "Customer": f"customer-{worker}",
                "RequestId": f"{self.config.run_id}/{step.key}/w{worker}"}

    def request(self, worker: int, step: Step) -> Call:
        """A conditional put of this worker's booking."""
        item = self.booking(worker, step)
        params = {"TableName": self.table, "Item": typed_item(item),
                  "ConditionExpression": "attribute_not_exists(#seat)",
                  "ExpressionAttributeNames": {"#seat": self.key_attribute},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call(BOOK, item, Request("put_item", params, token=("RequestId", item["RequestId"])))

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """The naive booking: read the seat; if it is free, put without a condition (several customers win)."""
        read = await self.read_item(client, call.value["SeatId"])
        if read.type != OK:
            return read
        if read.item is not None:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
        return await client.call(Request("put_item", {"TableName": self.table, "Item": typed_item(call.value)}))

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Nothing to learn: each seat is raced once (the booking is in the invoke value)."""
        return None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """One booking wins each seat, the stored booking is the winner's, every loser saw it."""
        return check_unique_writes(ops, final_state, f=BOOK, token_attr="RequestId")
