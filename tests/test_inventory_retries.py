"""inventory under SDK retries (issue 11, section 3) and the idempotent variant, inventory-idempotent.

A decrement without an order id that the SDK resends after a lost response sells a second unit. That is the
client's bug (retrying a non-idempotent conditional write), and the verdict used to blame the server for it
("final-stock-mismatch"); now it is ``non-idempotent-retry``, still INVALID. inventory-idempotent records the
order id on the item and excludes it in the condition, so it stays VALID under the same faults. Hand-built
histories first (a negative control for every new invariant), then real runs on DynamoDB Local.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.checker.verdict import INVALID, UNKNOWN, VALID
from harness.clients.outcome import Outcome
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK
from tests.conftest import run_stress
from tests.histories import HistoryBuilder
from workloads import get_workload
from workloads.inventory import Inventory
from workloads.inventory_idempotent import InventoryIdempotent, resolve_own_order

SKU = "sku-r0-0000"
CCF = CONDITIONAL_FAILED
SERVER_KINDS = {"oversell", "negative-stock", "same-unit-sold-twice", "condition-held-but-failed", "lost-sale",
                "final-stock-mismatch", "item-missing"}
LOST_ACKS = ("--fault", "lost-ack:0.05", "--retries", "2")


def order(worker: int) -> str:
    return f"run/{SKU}/w{worker}"


class Sales:
    """An inventory history of one item under construction."""

    def __init__(self, stock: int, guarded: bool = False) -> None:
        self.h = HistoryBuilder("inventory-idempotent" if guarded else "inventory")
        self.stock = stock
        self.guarded = guarded
        self.workers = 0

    def sale(self, type_: str, *, left: int | None = None, seen: dict[str, Any] | None = None,
             attempts: int = 1, raw: str | None = None) -> int:
        """One decrement; returns its worker number (its order is ``order(worker)``)."""
        worker = self.workers
        self.workers += 1
        value: dict[str, Any] = {"stock": self.stock, "buyer": f"w{worker}"}
        if self.guarded:
            value |= {"order": order(worker), "guarded": True}
        error = CCF if type_ == FAIL or raw else ("ReadTimeoutError" if type_ == INFO else None)
        self.h.op(worker, "decrement", SKU, value, worker, 100 + worker, type_, error=None if type_ == OK else error,
                  old=seen, result=left, attempts=attempts, raw=raw)
        return worker

    def check(self, stored: dict[str, Any] | None = None):
        """The workload's checker on this history; ``stored=None``: no final state was recorded."""
        state = {} if stored is None else {SKU: stored}
        cls = InventoryIdempotent if self.guarded else Inventory
        return cls.check(self.h.ops(), state, {})


def item(stock: int, *orders: int) -> dict[str, Any]:
    """The stored item: its stock and (for inventory-idempotent) the orders it records."""
    stored: dict[str, Any] = {"Sku": SKU, "Stock": stock}
    if orders:
        stored["Orders"] = sorted(order(w) for w in orders)
    return stored


def kinds(verdict) -> set[str]:
    return {v.kind for v in verdict.violations}


# --------------------------------------------------------------------------- inventory: whose bug is it


def test_a_retried_sale_applied_twice_is_named_the_client_bug():
    """S = 5: two acknowledged sales, one of them retried by the SDK, yet 3 units are gone."""
    sales = Sales(5)
    sales.sale(OK, left=4)
    sales.sale(OK, left=2, attempts=2)
    verdict = sales.check(item(2))
    assert verdict.status == INVALID and kinds(verdict) == {"non-idempotent-retry"}, verdict.violations
    (violation,) = verdict.violations
    assert "retrying a non-idempotent conditional write" in violation.message
    assert "application bug" in violation.message and "record the order id" in violation.message
    retried = [op.index for op in sales.h.ops() if op.attempts > 1]
    assert violation.ops == retried and violation.details["gone"] == 3


def test_the_same_history_without_a_retry_is_the_servers():
    """Negative control of the distinction: with one attempt each, no retry explains the missing unit."""
    sales = Sales(5)
    sales.sale(OK, left=4)
    sales.sale(OK, left=2)
    assert kinds(sales.check(item(2))) == {"final-stock-mismatch"}


def test_a_refusal_only_a_double_sale_explains_is_the_client_bug():
    """S = 2: one sale (retried) and a buyer refused against an empty stock, no final state needed."""
    sales = Sales(2)
    sales.sale(OK, left=0, attempts=2)
    sales.sale(FAIL, seen={"Sku": SKU, "Stock": 0})
    verdict = sales.check()
    assert kinds(verdict) == {"non-idempotent-retry"}, verdict.violations
    assert verdict.unknowns  # the final state was not recorded
    assert kinds(sales.check(item(0))) == {"non-idempotent-retry"}


def test_more_units_gone_than_every_attempt_explains_is_the_servers():
    sales = Sales(5)
    sales.sale(OK, left=4)
    sales.sale(OK, left=3, attempts=2)
    verdict = sales.check(item(1))  # 4 gone; at most 3 even if the retried sale applied twice
    assert kinds(verdict) == {"final-stock-mismatch"}, verdict.violations


def test_retried_sales_are_blamed_only_for_units_that_need_a_second_application():
    sales = Sales(5)
    sales.sale(OK, left=4, attempts=2)
    sales.sale(INFO, attempts=3)
    for final in (4, 3):  # each sale applied at most once explains these
        assert sales.check(item(final)).status == VALID, final
    for final in (2, 1, 0):  # these need the retried sales applied again (up to 2 + 3 times)
        assert kinds(sales.check(item(final))) == {"non-idempotent-retry"}, final


def test_a_guarded_retried_sale_explains_no_extra_unit():
    """inventory-idempotent's sales apply once however often they are sent: a missing unit is the server's."""
    sales = Sales(5, guarded=True)
    sales.sale(OK, left=4)
    sales.sale(OK, attempts=2, raw=CCF)  # resolved by its own order in ALL_OLD
    verdict = sales.check(item(2, 0, 1))
    assert "non-idempotent-retry" not in kinds(verdict) and "final-stock-mismatch" in kinds(verdict)


# --------------------------------------------------------------------------- inventory-idempotent's checker


def sold_out() -> Sales:
    """S = 2: worker 0 sells, worker 1's ack is lost and its retry meets its own order, workers 2-3 are refused."""
    sales = Sales(2, guarded=True)
    sales.sale(OK, left=1)
    sales.sale(OK, attempts=2, raw=CCF)
    sales.sale(FAIL, seen=item(0, 0, 1))
    sales.sale(FAIL, seen=item(0, 0, 1))
    return sales


def test_idempotent_sold_out_is_valid():
    verdict = sold_out().check(item(0, 0, 1))
    assert verdict.status == VALID, verdict.violations


def test_idempotent_first_attempt_refused_against_its_own_order_is_the_servers():
    sales = Sales(2, guarded=True)
    sales.sale(OK, left=1)
    sales.sale(FAIL, seen=item(0, 0, 1))  # refused on its first attempt, yet ALL_OLD records its order
    verdict = sales.check()
    assert verdict.status == INVALID and "own-sale-refused" in kinds(verdict)
    assert "refused-sale-applied" in kinds(sales.check(item(0, 0, 1)))


def test_idempotent_acknowledged_order_missing_is_lost():
    verdict = sold_out().check(item(0, 0))
    assert "acknowledged-sale-lost" in kinds(verdict)


def test_idempotent_order_nobody_sent_is_invalid():
    verdict = sold_out().check(item(0, 0, 1, 9))
    assert "stored-order-unknown" in kinds(verdict)


def test_idempotent_unit_gone_without_its_order_is_invalid():
    sales = Sales(3, guarded=True)
    sales.sale(OK, left=2)
    sales.sale(INFO)
    verdict = sales.check(item(1, 0))  # 2 units gone, 1 order recorded: stock range alone allows it
    assert kinds(verdict) == {"units-orders-mismatch"}, verdict.violations
    assert sales.check(item(1, 0, 1)).status == VALID  # the info sale happened, with its order


def test_idempotent_without_final_state_is_unknown():
    verdict = sold_out().check()
    assert verdict.status == UNKNOWN


def test_a_retry_is_resolved_by_its_own_order_only_after_a_retry():
    own = {"Sku": SKU, "Stock": 0, "Orders": [order(1)]}
    retried = resolve_own_order(Outcome(INFO, error=CCF, attempts=2, old=own), order(1))
    assert retried.type == OK and retried.raw == CCF and retried.item is None
    first = resolve_own_order(Outcome(FAIL, error=CCF, attempts=1, old=own), order(1))
    assert first.type == FAIL  # the raw answer stays, for the checker to report
    other = resolve_own_order(Outcome(INFO, error=CCF, attempts=2, old=own), order(2))
    assert other.type == INFO


def test_inventory_idempotent_is_builtin_with_an_unsafe_variant():
    assert get_workload("inventory-idempotent") is InventoryIdempotent and InventoryIdempotent.supports_unsafe


# --------------------------------------------------------------------------- real runs on DynamoDB Local


def run_json(endpoint, reports: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`stress run ... --json` on the session's DynamoDB Local; the exit code and its one workload's verdict."""
    proc = run_stress("run", *args, "--json", "--backend", "endpoint", "--endpoint-url", endpoint.url,
                      "--reports-dir", str(reports))
    assert proc.stdout.strip(), proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    (workload,) = summary["workloads"]
    return proc.returncode, workload | {"faults": summary["faults"]}


def run_kinds(workload: dict[str, Any]) -> Counter[str]:
    return Counter(v["kind"] for v in workload["violations"])


# Four buyers per item and far more units (tests/plenty_stock.py): every resend after a lost ack finds stock.
PLENTY = ("--workers", "4", "--keys", "50", "--seed", "9", *LOST_ACKS)


@pytest.fixture(scope="module")
def plenty_run(local_endpoint, tmp_path_factory) -> tuple[int, dict[str, dict[str, Any]]]:
    """inventory and inventory-idempotent (PLENTY units) in one run under the same lost acks and retries: the exit
    code and each workload's verdict by name."""
    proc = run_stress("run", "--workload", "tests.plenty_stock:PlentyInventory",
                      "--workload", "tests.plenty_stock:PlentyIdempotentInventory", *PLENTY, "--json",
                      "--backend", "endpoint", "--endpoint-url", local_endpoint.url,
                      "--reports-dir", str(tmp_path_factory.mktemp("plenty")))
    assert proc.stdout.strip(), proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    workloads = {w["name"]: w | {"faults": w["faults_injected"]} for w in summary["workloads"]}
    assert list(workloads) == ["inventory-plenty", "inventory-idempotent-plenty"]
    return proc.returncode, workloads


@pytest.mark.slow
def test_inventory_retrying_a_decrement_is_reported_as_the_client_bug(plenty_run):
    code, workloads = plenty_run
    w = workloads["inventory-plenty"]
    assert w["faults"].get("lost-ack", 0) > 0 and w["retried"] > 0
    assert code == 1 and w["verdict"] == "invalid"
    found = run_kinds(w)
    assert set(found) == {"non-idempotent-retry"}, found  # nothing blamed on the server
    assert all("retrying a non-idempotent conditional write" in v["message"] for v in w["violations"])


@pytest.mark.slow
def test_inventory_idempotent_stays_valid_where_inventory_double_sells(plenty_run):
    """The same run, the same lost acks: the idempotent variant beside the one that double-sells."""
    _, workloads = plenty_run
    w = workloads["inventory-idempotent-plenty"]
    assert w["verdict"] == "valid", w["violations"][:3]
    assert w["faults"].get("lost-ack", 0) > 0 and w["resolved_by_all_old"] > 0  # retries met their own order


@pytest.mark.slow
def test_inventory_idempotent_unsafe_is_caught_as_the_client_bug(local_endpoint, tmp_path):
    """Negative control: --unsafe drops the order's exclusion from the condition, so a resend sells twice."""
    code, w = run_json(local_endpoint, tmp_path, "--workload", "tests.plenty_stock:PlentyIdempotentInventory",
                       "--unsafe", *PLENTY)
    assert code == 1 and set(run_kinds(w)) == {"non-idempotent-retry"}, run_kinds(w)


@pytest.mark.slow
@pytest.mark.parametrize("faults", [(), LOST_ACKS], ids=["plain", "lost-acks-retries"])
def test_inventory_idempotent_is_valid_on_dynamodb_local(local_endpoint, tmp_path, faults):
    code, w = run_json(local_endpoint, tmp_path, "--workload", "inventory-idempotent", "--workers", "40", "--keys",
                       "10", "--seed", "4", *faults)
    assert code == 0 and w["verdict"] == "valid", (w["violations"][:3], w["unknowns"][:3])
    assert w["ok"] == 10 * 10  # S = 40 // 4 per item, sold out exactly
