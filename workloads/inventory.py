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
        by_key: dict[str, list[Op]] = defaultdict(list)
        for op in ops:
            if op.f == "decrement":
                by_key[op.key].append(op)
        for key, key_ops in sorted(by_key.items()):
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
    def most(self) -> int:
        """The most sales that may have happened."""
        return len(self.ok) + len(self.info)


def check_stock_key(verdict: Verdict, key: str, ops: list[Op], final_state: dict[str, Any]) -> None:
    """The inventory invariants for one item."""
    sales = Sales.of(ops)
    _check_oversell(verdict, key, sales)
    _check_refusals(verdict, key, sales)
    if key not in final_state:
        verdict.undecided(f"{key}: no final state recorded")
        return
    stored = final_state[key]
    final = stored.get(STOCK) if isinstance(stored, dict) else None
    if not isinstance(final, (int, float)):
        verdict.fail("item-missing", key, f"{key!r} has no Stock in the final state: {stored!r}", [], stored=stored)
        return
    _check_final(verdict, key, sales, int(final))


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


def _check_refusals(verdict: Verdict, key: str, sales: Sales) -> None:
    """A refused buyer must have seen an empty stock, and refusals need the stock to be gone."""
    for op in sales.refused:
        seen = op.old.get(STOCK) if isinstance(op.old, dict) else None
        if isinstance(seen, (int, float)) and seen >= 1:
            verdict.fail("condition-held-but-failed", key, f"op {op.index} was refused although the item it "
                         f"got back has Stock = {seen}", [op.index], old=op.old)
    if sales.refused and sales.most < sales.stock:
        verdict.fail("lost-sale", key, f"{len(sales.refused)} buyers of {key!r} were refused, yet at most "
                     f"{sales.most} of {sales.stock} units can have been sold", [op.index for op in sales.refused],
                     stock=sales.stock, sold_at_most=sales.most)


def _check_final(verdict: Verdict, key: str, sales: Sales, final: int) -> None:
    """The stored stock against the sales the history allows."""
    if final < 0:
        verdict.fail("negative-stock", key, f"{key!r} stores Stock = {final}", [], stored=final)
        return
    low, high = sales.stock - sales.most, sales.stock - len(sales.ok)
    if not low <= final <= high:
        span = f"S - sales = {high}" if low == high else f"between {max(low, 0)} and {high}"
        verdict.fail("final-stock-mismatch", key, f"{key!r} stores Stock = {final}, but {len(sales.ok)} sales "
                     f"succeeded ({len(sales.info)} indeterminate) from {sales.stock}, so it must be {span}",
                     [op.index for op in sales.ok], stored=final, stock=sales.stock, ok=len(sales.ok),
                     indeterminate=len(sales.info))
    elif final > 0 and sales.refused and sales.most >= sales.stock:
        verdict.fail("lost-sale", key, f"{len(sales.refused)} buyers of {key!r} were refused while "
                     f"{final} units stayed in stock", [op.index for op in sales.refused], stored=final)
