"""Last items in stock, idempotently: every sale records its order id, and the condition excludes it.

The race of ``inventory`` (S units per item, W > S buyers), but each buyer's decrement is one order with
an id unique per worker, item and run, and the update records it on the item::

    SET #s = #s - :one ADD #orders :order_set      if  #s >= :one AND NOT contains(#orders, :order)

So an order is applied at most once however often it is sent: when the SDK resends a decrement whose
first attempt was applied (its response lost, ``--retries`` under ``lost-ack``), the resend fails its
condition and its ALL_OLD item lists the order — proof that the first attempt sold the unit, and the
sale is resolved to ``ok`` (``raw`` keeps the ConditionalCheckFailed). Only after a retry, though: on a
first attempt nothing of ours can have been applied, and a refusal whose ALL_OLD item already lists our
order is a server that applied the sale and said it did not; it stays ``fail`` and the checker reports it.

Invariants: those of ``inventory`` (for these ``guarded`` sales a retry explains no extra unit), and per
item, from the recorded ``Orders`` set: every acknowledged order is in it, no refused order is, every
order in it was sent for this item, and the units gone (S minus the final stock) are exactly the orders
recorded — one unit per order.

``--unsafe`` keeps the order id but drops ``AND NOT contains(#orders, :order)``: under lost acks and
``--retries`` a resend sells a second unit for the same order, caught as ``non-idempotent-retry``.
"""

from __future__ import annotations

from typing import Any

from harness.checker.verdict import Verdict
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, Op
from workloads.base import Call, Step
from workloads.common import ops_by_key
from workloads.inventory import STOCK, Inventory, check_stock_key

ORDERS = "Orders"
SAFE_CONDITION = "#s >= :one AND NOT contains(#orders, :order)"
UNSAFE_CONDITION = "#s >= :one"


class InventoryIdempotent(Inventory):
    """Inventory whose decrement records its order id and excludes it in the condition: retries are safe."""

    name = "inventory-idempotent"
    description = "last items in stock, idempotent: each sale records its order id, the condition excludes it"
    supports_unsafe = True

    def order_id(self, worker: int, step: Step) -> str:
        """The id of one buyer's order: unique per worker, item and run."""
        return f"{self.config.run_id}/{step.key}/w{worker}"

    def request(self, worker: int, step: Step) -> Call:
        """The decrement that records the order; ``--unsafe`` leaves its exclusion out of the condition."""
        order = self.order_id(worker, step)
        values: dict[str, Any] = {":one": {"N": "1"}, ":order_set": {"SS": [order]}}
        if not self.unsafe:
            values[":order"] = {"S": order}
        params = {"TableName": self.table, "Key": {self.key_attribute: {"S": step.key}},
                  "UpdateExpression": "SET #s = #s - :one ADD #orders :order_set",
                  "ConditionExpression": UNSAFE_CONDITION if self.unsafe else SAFE_CONDITION,
                  "ExpressionAttributeNames": {"#s": STOCK, "#orders": ORDERS},
                  "ExpressionAttributeValues": values,
                  "ReturnValues": "UPDATED_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        value = {"stock": self.units(), "buyer": f"w{worker}", "order": order, "guarded": not self.unsafe}
        return Call("decrement", value, Request("update_item", params))

    async def execute(self, client: Any, call: Call) -> Outcome:
        """Send the decrement (``--unsafe`` too: its naive part is the condition) and resolve a retry that
        met its own order."""
        outcome = await client.send(call.request, call.prepared)
        return resolve_own_order(outcome, call.value["order"])

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """The inventory invariants, then one unit per recorded order, per item."""
        verdict = Verdict()
        for key, key_ops in ops_by_key((op for op in ops if isinstance(op.value, dict)), "decrement"):
            check_stock_key(verdict, key, key_ops, final_state)
            check_orders_key(verdict, key, key_ops, final_state)
        return verdict


def orders_of(item: Any) -> list[str]:
    """The order ids an item (plain JSON) records; a string set reads back as a sorted list."""
    orders = item.get(ORDERS) if isinstance(item, dict) else None
    return [o for o in orders if isinstance(o, str)] if isinstance(orders, list) else []


def resolve_own_order(outcome: Outcome, order: str) -> Outcome:
    """``ok`` for a retried decrement refused because its ALL_OLD item already records ``order``.

    The SDK marks a conditional failure after a retry ``info``; only then can an earlier attempt of ours
    have been applied. The stock left after our sale is unknown (the item may have sold more since), so the
    resolved outcome carries no item to record.
    """
    if outcome.type == INFO and outcome.error == CONDITIONAL_FAILED and order in orders_of(outcome.old):
        return Outcome(OK, attempts=outcome.attempts, old=outcome.old, raw=CONDITIONAL_FAILED)
    return outcome


def check_orders_key(verdict: Verdict, key: str, ops: list[Op], final_state: dict[str, Any]) -> None:
    """Per item: no first attempt refused against its own order, and the stored orders match the sales."""
    for op in ops:
        if op.type == FAIL and op.value.get("order") in orders_of(op.old):
            verdict.fail("own-sale-refused", key, f"order {op.value['order']!r} (op {op.index}) got "
                         "ConditionalCheckFailed on its first attempt with an ALL_OLD item that already records "
                         "it: the server applied the sale and answered that it refused it (nothing of this order "
                         "was sent before, and a correct server cannot fail a first attempt against the caller's "
                         "own write)", [op.index], old=op.old)
    if not isinstance(final_state.get(key), dict):
        return  # no final state (undecided) or no item (item-missing): check_stock_key says so
    stored = final_state[key]
    recorded = set(orders_of(stored))
    by_order = {op.value.get("order"): op for op in ops}
    for order in sorted(recorded - set(by_order)):
        verdict.fail("stored-order-unknown", key, f"{key!r} records order {order!r}, which no buyer of it sent",
                     [], stored=stored)
    for order, op in sorted(by_order.items(), key=lambda pair: pair[1].index):
        if op.type == OK and order not in recorded:
            verdict.fail("acknowledged-sale-lost", key, f"acknowledged sale lost: order {order!r} (op {op.index}) "
                         f"succeeded, but {key!r} does not record it", [op.index], stored=stored)
        elif op.type == FAIL and order in recorded:
            verdict.fail("refused-sale-applied", key, f"order {order!r} (op {op.index}) was reported as not "
                         f"applied ({op.error}), but {key!r} records it: the sale happened", [op.index],
                         stored=stored)
    _check_one_unit_per_order(verdict, key, ops, stored, recorded)


def _check_one_unit_per_order(verdict: Verdict, key: str, ops: list[Op], stored: dict[str, Any],
                              recorded: set[str]) -> None:
    """With every order excluded by its own condition, each unit gone left with exactly one recorded order."""
    if not all(op.value.get("guarded") is True for op in ops):
        return  # an unguarded resend may sell twice for one order: check_stock_key names that
    stock = max(int(op.value["stock"]) for op in ops if "stock" in op.value)
    final = stored.get(STOCK)
    if isinstance(final, (int, float)) and stock - final != len(recorded):
        verdict.fail("units-orders-mismatch", key, f"{stock - int(final)} units of {key!r} are gone but it records "
                     f"{len(recorded)} orders: each order's condition excludes it, so every sale takes one unit "
                     "and records one order", [op.index for op in ops if op.type == OK], stored=stored,
                     stock=stock, orders=len(recorded))
