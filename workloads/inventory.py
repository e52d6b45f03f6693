"""Last items in stock: W workers race to buy from a stock of S units per item.

Every item starts as ``Stock = S`` (S < W by default, so there are more buyers than units). Each
worker sends one ``update_item`` with ``SET #s = #s - :one`` guarded by ``#s >= :one``
(``ReturnValues=UPDATED_NEW`` gives the stock left after a sale, ``ALL_OLD`` the item a refused
buyer saw). S is recorded in every invoke value, so the checker needs nothing but the history.

Invariants, per item, with ``ok`` sales definitely applied and ``info`` ones maybe:

* no oversell: at most S sales succeed, the stock never goes negative, and no two sales saw
  the same stock left (two buyers who both got "the last one" is an oversell);
* no lost sale: a buyer is refused only once the stock is gone (a refused buyer's ALL_OLD stock
  is 0; the final stock is 0 whenever anyone was refused), so with at least S attempts exactly
  S sales succeed;
* the final stock is S minus the sales that happened (indeterminate sales widen the range).

Retries: the decrement carries no request id, so when the SDK resends one whose first attempt was applied
and only its response was lost (``--retries`` under ``lost-ack``), the resend sells another unit while any
is left — two units for one order. That is a bug of this client code (retrying a non-idempotent
conditional write), not of the server, and the checker names it so: a sale the SDK retried
(``attempts > 1``) may have been applied up to ``attempts`` times, and when the stock can only be
explained by such a sale applied more than once the violation is ``non-idempotent-retry`` (still
INVALID: the shop sold a unit it did not mean to). A history that needs more units than even that can
explain is the server's (``final-stock-mismatch``, ``lost-sale``). Sales marked ``guarded`` in their
invoke value (``inventory-idempotent``: the condition excludes the order's own id) apply at most once
however often they are sent, so for them a retry explains nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, Op
from workloads.base import Call, Step, Workload
from workloads.common import ops_by_key

STOCK = "Stock"


class Inventory(Workload):
    """Conditional decrement ``Stock >= 1`` on S units per item, W > S buyers per item."""

    name = "inventory"
    description = "last items in stock: decrement guarded by Stock >= :one (no oversell, no lost sale)"
    key_attribute = "Sku"
    supports_unsafe = True
    independent_steps = True  # requests never depend on earlier outcomes
    stock: ClassVar[int | None] = None  # units per item; None: max(1, workers // 4)

    def units(self) -> int:
        """S: the stock every item starts with."""
        return self.stock if self.stock is not None else max(1, self.config.workers // 4)

    def key_names(self, round_: int) -> list[str]:
        """Fresh items every round: a stock can only be sold out once."""
        return [f"{self.config.key_prefix}sku-r{round_}-{i:04d}" for i in range(self.config.keys)]

    async def setup_round(self, client: Any, round_: int) -> None:
        """Every item of the round starts with ``Stock = S``."""
        for key in self.key_names(round_):
            item = {self.key_attribute: key, STOCK: self.units()}
            await client.raw.put_item(TableName=self.table, Item=typed_item(item))

    def request(self, worker: int, step: Step) -> Call:
        """One conditional decrement of the item's stock."""
        params = {"TableName": self.table, "Key": {self.key_attribute: {"S": step.key}},
                  "UpdateExpression": "SET #s = #s - :one", "ConditionExpression": "#s >= :one",
                  "ExpressionAttributeNames": {"#s": STOCK},
                  "ExpressionAttributeValues": {":one": {"N": "1"}},
                  "ReturnValues": "UPDATED_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        value = {"stock": self.units(), "buyer": f"w{worker}"}
        return Call("decrement", value, Request("update_item", params))

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read the stock; if any is left, write stock - 1 without a condition (the oversell race)."""
        key = call.request.params["Key"][self.key_attribute]["S"]
        read = await self.read_item(client, key)
        if read.type != OK:
            return read
        left = (read.item or {}).get(STOCK, 0)
        if left <= 0:
            return Outcome(FAIL, error=CONDITIONAL_FAILED, old=read.item)
        params = {"TableName": self.table, "Key": call.request.params["Key"],
                  "UpdateExpression": "SET #s = :left", "ExpressionAttributeNames": {"#s": STOCK},
                  "ExpressionAttributeValues": {":left": {"N": str(left - 1)}}, "ReturnValues": "UPDATED_NEW"}
        return await client.call(Request("update_item", params))

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Record the stock left after a sale (None when the backend returned nothing)."""
        if outcome.type == OK and outcome.item:
            return outcome.item.get(STOCK)
        return None

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """No oversell, no lost sale, final stock = S - sales, per item."""
        verdict = Verdict()
        for key, key_ops in ops_by_key(ops, "decrement"):
            check_stock_key(verdict, key, key_ops, final_state)
        return verdict


@dataclass
class Sales:
    """What one item's history says about its sales."""

    stock: int
    ok: list[Op]
    info: list[Op]
    refused: list[Op]  # conditional failures: buyers told "sold out"

    @classmethod
    def of(cls, ops: list[Op]) -> Sales:
        """Split one item's ops by outcome; S is taken from the invoke values."""
        stock = max(int(op.value["stock"]) for op in ops if isinstance(op.value, dict) and "stock" in op.value)
        return cls(stock, [op for op in ops if op.type == OK], [op for op in ops if op.type == INFO],
                   [op for op in ops if op.type == FAIL and op.error == CONDITIONAL_FAILED])

    @property
    def most_once(self) -> int:
        """The most sales that may have happened, each op applied at most once (a correct client)."""
        return len(self.ok) + len(self.info)

    @property
    def most(self) -> int:
        """The most sales that may have happened, counting every attempt of a retried unguarded op."""
        return sum(applications(op) for op in self.ok + self.info)

    @property
    def retried(self) -> list[Op]:
        """The sales that may have been applied more than once (retried, condition not excluding a resend)."""
        return [op for op in self.ok + self.info if applications(op) > 1]


def applications(op: Op) -> int:
    """How many times a sale may have been applied: once per attempt, unless its condition excludes its own
    order (``guarded``), which makes every attempt after an applied one fail."""
    guarded = isinstance(op.value, dict) and op.value.get("guarded") is True
    return 1 if guarded else max(op.attempts, 1)


def check_stock_key(verdict: Verdict, key: str, ops: list[Op], final_state: dict[str, Any]) -> None:
    """The inventory invariants for one item."""
    sales = Sales.of(ops)
    _check_oversell(verdict, key, sales)
    _check_refusals(verdict, key, sales)
    if key not in final_state:
        verdict.undecided(f"{key}: no final state recorded")
        _check_retried_twice(verdict, key, sales, None)
        return
    stored = final_state[key]
    final = stored.get(STOCK) if isinstance(stored, dict) else None
    if not isinstance(final, (int, float)):
        verdict.fail("item-missing", key, f"{key!r} has no Stock in the final state: {stored!r}", [], stored=stored)
        return
    _check_final(verdict, key, sales, int(final))
    _check_retried_twice(verdict, key, sales, int(final))


def _check_oversell(verdict: Verdict, key: str, sales: Sales) -> None:
    """More acknowledged sales than units, a negative stock, or two sales of the same unit."""
    if len(sales.ok) > sales.stock:
        verdict.fail("oversell", key, f"{len(sales.ok)} sales of {key!r} succeeded but only {sales.stock} were in "
                     "stock", [op.index for op in sales.ok], stock=sales.stock, sold=len(sales.ok))
    by_left: dict[Any, list[Op]] = defaultdict(list)
    for op in sales.ok:
        if isinstance(op.result, (int, float)):
            by_left[op.result].append(op)
    negative = [op for left, group in by_left.items() if left < 0 for op in group]
    if negative:
        verdict.fail("negative-stock", key, f"sales of {key!r} left a negative stock", [op.index for op in negative])
    for left, group in sorted(by_left.items()):
        if len(group) > 1:
            verdict.fail("same-unit-sold-twice", key, f"{len(group)} sales of {key!r} each left Stock = {left}: "
                         "the same unit was sold to several buyers", [op.index for op in group], left=left)


def _saw_stock(op: Op) -> bool:
    """True when a refused sale's ALL_OLD item shows stock left (its condition held)."""
    seen = op.old.get(STOCK) if isinstance(op.old, dict) else None
    return isinstance(seen, (int, float)) and seen >= 1


def _check_refusals(verdict: Verdict, key: str, sales: Sales) -> None:
    """A refused buyer must have seen an empty stock, and refusals need the stock to be gone."""
    for op in sales.refused:
        if _saw_stock(op):
            verdict.fail("condition-held-but-failed", key, f"op {op.index} was refused although the item it "
                         f"got back has Stock = {op.old[STOCK]}", [op.index], old=op.old)
    if sales.refused and sales.most < sales.stock:
        retries = f" (counting every attempt of {len(sales.retried)} retried sales)" if sales.retried else ""
        verdict.fail("lost-sale", key, f"{len(sales.refused)} buyers of {key!r} were refused, yet at most "
                     f"{sales.most} of {sales.stock} units can have been sold{retries}",
                     [op.index for op in sales.refused], stock=sales.stock, sold_at_most=sales.most)


def _check_final(verdict: Verdict, key: str, sales: Sales, final: int) -> None:
    """The stored stock against the sales the history allows."""
    if final < 0:
        verdict.fail("negative-stock", key, f"{key!r} stores Stock = {final}", [], stored=final)
        return
    low, high = sales.stock - sales.most, sales.stock - len(sales.ok)
    if not low <= final <= high:
        span = f"S - sales = {high}" if low == high else f"between {max(low, 0)} and {high}"
        retries = f", {len(sales.retried)} retried" if sales.retried else ""
        verdict.fail("final-stock-mismatch", key, f"{key!r} stores Stock = {final}, but {len(sales.ok)} sales "
                     f"succeeded ({len(sales.info)} indeterminate{retries}) from {sales.stock}, so it must be {span}",
                     [op.index for op in sales.ok], stored=final, stock=sales.stock, ok=len(sales.ok),
                     indeterminate=len(sales.info))
    elif final > 0 and sales.refused and sales.most >= sales.stock:
        verdict.fail("lost-sale", key, f"{len(sales.refused)} buyers of {key!r} were refused while "
                     f"{final} units stayed in stock", [op.index for op in sales.refused], stored=final)


def _check_retried_twice(verdict: Verdict, key: str, sales: Sales, final: int | None) -> None:
    """Units gone that only a retried sale applied more than once explains: the client's bug, named as such.

    The units that must have left the stock: all S once anyone was refused against an empty stock (a
    refusal whose ALL_OLD shows stock left is the server's, reported by ``_check_refusals``), and S minus
    the final stock. Counting every op once (``most_once``) must cover them; when only counting
    the extra attempts of retried sales does (``most``), the SDK's resend of a non-idempotent decrement
    sold them. Beyond ``most`` nothing explains them and ``_check_refusals`` / ``_check_final`` already
    report the server.
    """
    emptied = any(not _saw_stock(op) for op in sales.refused)
    gone = max(sales.stock if emptied else 0, sales.stock - final if final is not None else 0)
    if not sales.most_once < gone <= sales.most:
        return
    extra = gone - sales.most_once
    retried = ", ".join(f"op {op.index} ({op.type}, {op.attempts} attempts)" for op in sales.retried[:5])
    more = f" and {len(sales.retried) - 5} more" if len(sales.retried) > 5 else ""
    verdict.fail("non-idempotent-retry", key, f"{gone} of {sales.stock} units of {key!r} are gone, but its "
                 f"{len(sales.ok)} acknowledged and {len(sales.info)} indeterminate sales account for at most "
                 f"{sales.most_once} if each order is applied once: {extra} more unit(s) left with sales the SDK "
                 f"retried after a lost response ({retried}{more}), so a retry applied an order again. That is "
                 "an application bug, retrying a non-idempotent conditional write (nothing in the decrement's "
                 "condition excludes an order already applied, so its resend sold another unit while stock was "
                 "left), not a server fault. Fix the "
                 "client: record the order id on the item and exclude it in the condition (see "
                 "inventory-idempotent), or do not retry the decrement",
                 [op.index for op in sales.retried], stock=sales.stock, gone=gone, sold_at_most_once=sales.most_once,
                 retried=len(sales.retried))
