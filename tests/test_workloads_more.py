"""inventory and unique-email: negative controls for every invariant on hand-built histories, unknown where
indeterminate ops leave it undecidable, and end-to-end runs at 200 workers on DynamoDB Local, where the safe
variants are valid and the naive --unsafe ones (also of registration and role-update) are caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checker.verdict import EXIT_CODES, INVALID, UNKNOWN, VALID
from harness.history.events import CONDITIONAL_FAILED, TRANSACTION_CANCELED, pair_ops, read_events
from tests.histories import HistoryBuilder
from workloads import get_workload
from workloads.inventory import Inventory
from workloads.unique_email import UniqueEmail, registration_items

SKU = "sku-r0-0000"
CCF = CONDITIONAL_FAILED


# ----- inventory ------------------------------------------------------------------------------------------

def sale(h: HistoryBuilder, worker: int, type_: str, stock: int = 2, left: int | None = None,
         seen: int | None = None, start: int = 0, end: int | None = 100) -> None:
    """One decrement of SKU: ok leaves ``left``, a refusal saw ``seen`` (ALL_OLD)."""
    h.op(worker, "decrement", SKU, {"stock": stock, "buyer": f"w{worker}"}, start + worker, end, type_,
         error=CCF if type_ == "fail" else ("ReadTimeoutError" if type_ == "info" else None),
         old={"Sku": SKU, "Stock": seen} if seen is not None else None, result=left)


def inventory(*sales: tuple, stock: int = 2) -> list:
    h = HistoryBuilder("inventory")
    for worker, (type_, value) in enumerate(sales):
        if type_ == "ok":
            sale(h, worker, "ok", stock, left=value)
        elif type_ == "fail":
            sale(h, worker, "fail", stock, seen=value)
        else:
            sale(h, worker, type_, stock)
    return h.ops()


def kinds(verdict) -> set[str]:
    return {v.kind for v in verdict.violations}


def stock(n: int | None) -> dict:
    return {SKU: {"Sku": SKU, "Stock": n}}


def test_inventory_sold_out_exactly_is_valid():
    ops = inventory(("ok", 1), ("ok", 0), ("fail", 0), ("fail", 0))
    verdict = Inventory.check(ops, stock(0), {})
    assert verdict.status == VALID, verdict.violations


def test_inventory_fewer_buyers_than_units_is_valid():
    verdict = Inventory.check(inventory(("ok", 4), ("ok", 3), stock=5), stock(3), {})
    assert verdict.status == VALID, verdict.violations


def test_inventory_oversell_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("ok", 0), ("ok", 0), ("fail", 0)), stock(0), {})
    assert verdict.status == INVALID
    oversell = next(v for v in verdict.violations if v.kind == "oversell")
    assert oversell.key == SKU and len(oversell.ops) == 3 and oversell.details == {"stock": 2, "sold": 3}


def test_inventory_same_unit_sold_twice_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("ok", 1), ("fail", 0)), stock(1), {})
    assert {"same-unit-sold-twice", "final-stock-mismatch"} <= kinds(verdict)


def test_inventory_lost_sale_by_final_stock_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("fail", None), ("fail", None)), stock(1), {})
    assert kinds(verdict) == {"lost-sale"}


def test_inventory_lost_sale_by_counts_without_final_state_is_invalid():
    verdict = Inventory.check(inventory(("ok", 2), ("fail", None), ("fail", None), stock=3), {}, {})
    assert verdict.status == INVALID and "lost-sale" in kinds(verdict)


def test_inventory_refusal_that_saw_stock_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("ok", 0), ("fail", 1)), stock(0), {})
    assert kinds(verdict) == {"condition-held-but-failed"}


def test_inventory_final_stock_mismatch_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("ok", 0), ("fail", 0)), stock(1), {})
    mismatch = next(v for v in verdict.violations if v.kind == "final-stock-mismatch")
    assert mismatch.details["stored"] == 1 and "must be S - sales = 0" in mismatch.message


def test_inventory_negative_final_stock_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1), ("ok", 0), ("fail", 0)), stock(-1), {})
    assert "negative-stock" in kinds(verdict)


def test_inventory_missing_item_is_invalid():
    verdict = Inventory.check(inventory(("ok", 1)), {SKU: None}, {})
    assert kinds(verdict) == {"item-missing"}


@pytest.mark.parametrize("final", [0, 1])
def test_inventory_info_sale_widens_the_allowed_final_stock(final):
    """An indeterminate sale may or may not have happened: both final stocks are valid."""
    verdict = Inventory.check(inventory(("ok", 1), ("info", None)), stock(final), {})
    assert verdict.status == VALID, verdict.violations


def test_inventory_info_sale_then_refusal_needs_the_sale_to_have_happened():
    ops = inventory(("ok", 1), ("info", None), ("fail", 0))
    assert Inventory.check(ops, stock(0), {}).status == VALID
    assert kinds(Inventory.check(ops, stock(1), {})) == {"lost-sale"}


def test_inventory_without_final_state_and_info_is_unknown():
    verdict = Inventory.check(inventory(("ok", 1), ("info", None), ("fail", 0)), {}, {})
    assert verdict.status == UNKNOWN and verdict.unknowns


# ----- unique-email ---------------------------------------------------------------------------------------

GROUP = "g-r0-0000"


def reg(worker: int, user: str, email: str) -> dict:
    return {"Username": f"{GROUP}-{user}", "Email": f"{GROUP}-{email}@example.com", "RequestId": f"run/w{worker}"}


class Emails:
    """A unique-email history under construction, and the final state its ops would leave."""

    def __init__(self) -> None:
        self.h = HistoryBuilder("unique-email")
        self.state: dict[str, dict | None] = {}

    def register(self, worker: int, user: str, email: str, type_: str, *, stored: bool | None = None,
                 reasons: list[str] | None = None, start: int = 0) -> dict:
        """One transaction; ``stored`` (default: ok) puts both its items in the final state."""
        value = reg(worker, user, email)
        error = TRANSACTION_CANCELED if type_ == "fail" else ("ReadTimeoutError" if type_ == "info" else None)
        self.h.op(worker, "register", GROUP, value, start + worker, start + 100, type_, error=error)
        if reasons is not None:
            self.h.events[-1]["reasons"] = reasons
        for item in registration_items(value):
            if stored if stored is not None else type_ == "ok":
                self.state[item["pk"]] = item
            else:
                self.state.setdefault(item["pk"], None)
        return value

    def put(self, worker: int, type_: str = "ok", stored: bool = True) -> str:
        pk = f"PLAIN#{GROUP}-w{worker}"
        value = {"pk": pk, "RequestId": f"run/w{worker}"}
        self.h.op(worker, "put", GROUP, value, worker, 50, type_)
        self.state[pk] = dict(value) if stored else None
        return pk

    def check(self, state: dict | None = None):
        return UniqueEmail.check(self.h.ops(), self.state if state is None else state, {})


def crossing_race() -> Emails:
    """u0/e0 wins; u1 wants e0 too (email taken), a second u0 wants e1 (username taken); one plain put."""
    e = Emails()
    e.register(0, "u0", "e0", "ok")
    e.register(1, "u1", "e0", "fail", reasons=["None", "ConditionalCheckFailed"], start=5)
    e.register(2, "u0", "e1", "fail", reasons=["ConditionalCheckFailed", "None"], start=5)
    e.put(9)
    return e


def test_unique_email_crossing_race_is_valid():
    verdict = crossing_race().check()
    assert verdict.status == VALID, verdict.violations


def test_unique_email_email_owned_twice_is_invalid():
    e = crossing_race()
    e.register(3, "u3", "e0", "ok", start=5)  # a second owner of e0
    verdict = e.check()
    owned = [v for v in verdict.violations if v.kind == "email-owned-twice"]
    assert len(owned) == 1 and owned[0].key == f"{GROUP}-e0@example.com" and len(owned[0].ops) == 2


def test_unique_email_owned_twice_in_the_final_state_alone_is_invalid():
    e = crossing_race()
    state = dict(e.state)
    state[f"USER#{GROUP}-u1"] = registration_items(reg(1, "u1", "e0"))[0]  # u1 stored with e0, op failed
    verdict = e.check(state)
    assert {"email-owned-twice", "half-written-transaction"} <= kinds(verdict)


def test_unique_email_username_taken_twice_is_invalid():
    e = crossing_race()
    e.register(4, "u0", "e4", "ok", start=5)
    assert "username-taken-twice" in kinds(e.check())


def test_unique_email_half_written_transaction_is_invalid():
    e = crossing_race()
    state = dict(e.state)
    state[f"EMAIL#{GROUP}-e0@example.com"] = None  # the ok op's marker is missing
    verdict = e.check(state)
    half = next(v for v in verdict.violations if v.kind == "half-written-transaction")
    assert half.key == f"USER#{GROUP}-u0" and half.details["missing"] == f"EMAIL#{GROUP}-e0@example.com"


def test_unique_email_ok_transaction_that_wrote_nothing_is_invalid():
    e = crossing_race()
    state = {pk: (None if pk.endswith(("u0", "e0@example.com")) else item) for pk, item in e.state.items()}
    assert "lost-transaction" in kinds(e.check(state))


def test_unique_email_cancelled_transaction_that_applied_is_invalid():
    e = Emails()
    e.register(0, "u0", "e0", "ok")
    e.register(1, "u1", "e1", "fail", stored=True, reasons=["ConditionalCheckFailed", "None"])
    assert {"cancelled-transaction-applied", "phantom-conflict"} <= kinds(e.check())


def test_unique_email_cancellation_without_a_possible_writer_is_invalid():
    e = Emails()
    e.register(1, "u1", "e1", "fail", reasons=["ConditionalCheckFailed", "None"])
    phantom = next(v for v in e.check().violations if v.kind == "phantom-conflict")
    assert phantom.key == f"USER#{GROUP}-u1" and phantom.details["reasons"] == ["ConditionalCheckFailed", "None"]


def test_unique_email_lost_plain_put_is_invalid():
    e = crossing_race()
    pk = e.put(10)
    e.state[pk] = None
    lost = [v for v in e.check().violations if v.kind == "lost-put"]
    assert [v.key for v in lost] == [pk]


def test_unique_email_item_nobody_wrote_is_invalid():
    e = crossing_race()
    e.state["PLAIN#stranger"] = {"pk": "PLAIN#stranger", "RequestId": "someone-else"}
    assert kinds(e.check()) == {"stored-item-unwritten"}


@pytest.mark.parametrize("stored", [True, False])
def test_unique_email_info_transaction_all_or_nothing_is_valid(stored):
    e = crossing_race()
    e.register(5, "u5", "e5", "info", stored=stored, start=5)
    e.put(11, "info", stored=stored)
    verdict = e.check()
    assert verdict.status == VALID, verdict.violations


def test_unique_email_info_transaction_half_applied_is_invalid():
    e = crossing_race()
    value = e.register(5, "u5", "e5", "info", start=5)
    e.state[f"USER#{value['Username']}"] = registration_items(value)[0]
    assert kinds(e.check()) == {"half-written-transaction"}


def test_unique_email_without_final_state_is_unknown():
    e = crossing_race()
    e.register(5, "u5", "e5", "info", start=5)
    verdict = e.check({})
    assert verdict.status == UNKNOWN and verdict.unknowns


# ----- end to end on DynamoDB Local -----------------------------------------------------------------------

E2E_WORKLOADS = ("inventory", "unique-email", "registration", "role-update")


def _run(endpoint, reports: Path, unsafe: bool = False) -> tuple[int, dict]:
    """One run of all four workloads, in-process like `stress run --json` but without the report's plots
    (rendering 16 PNGs would take longer than the races; tests/test_report.py covers the report)."""
    from harness.engine import run as run_module

    options = run_module.RunOptions(workloads=list(E2E_WORKLOADS), workers=200, keys=2, rounds=1, timeout=30,
                                    backend="endpoint", endpoint_url=endpoint.url, reports_dir=reports, unsafe=unsafe)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_module, "write_report", lambda run_dir, verdict: None)
        summary = run_module.Run(options).execute()
    code = EXIT_CODES[summary["verdict"]]
    return code, {w["name"]: w for w in summary["workloads"]} | {"_run_dir": summary["run_dir"]}


@pytest.fixture(scope="module")
def safe_run(local_endpoint, tmp_path_factory):
    return _run(local_endpoint, tmp_path_factory.mktemp("safe"))


@pytest.fixture(scope="module")
def unsafe_run(local_endpoint, tmp_path_factory):
    return _run(local_endpoint, tmp_path_factory.mktemp("unsafe"), unsafe=True)


def test_new_workloads_are_builtin():
    assert get_workload("inventory") is Inventory and get_workload("unique-email") is UniqueEmail
    assert Inventory.supports_unsafe and UniqueEmail.supports_unsafe


@pytest.mark.slow
def test_safe_variants_are_valid_at_200_workers(safe_run):
    code, by_name = safe_run
    for name in E2E_WORKLOADS:
        w = by_name[name]
        assert w["verdict"] == "valid", (name, w["violations"][:3], w["unknowns"][:3])
        assert w["max_in_flight"] >= 100, (name, w["max_in_flight"])
    assert code == 0
    inv = by_name["inventory"]
    assert inv["ok"] == 2 * 50 and inv["conditional_failed"] == 2 * 150  # S = 200 // 4 per item, exactly


@pytest.mark.slow
def test_unique_email_records_reasons_and_plain_puts(safe_run):
    _, by_name = safe_run
    ops = [op for op in pair_ops(read_events(Path(by_name["_run_dir"]) / "history.jsonl"))
           if op.workload == "unique-email"]
    cancelled = [op for op in ops if op.error == TRANSACTION_CANCELED]
    assert cancelled and all(len(op.extra["reasons"]) == 2 for op in cancelled)
    assert any("ConditionalCheckFailed" in op.extra["reasons"] for op in cancelled)
    puts = [op for op in ops if op.f == "put"]
    assert len(puts) == 2 * 10 and all(op.type == "ok" for op in puts)
    final = json.loads((Path(by_name["_run_dir"]) / "final_state.json").read_text())["unique-email"]
    assert all(final[op.value["pk"]] for op in puts)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "expected"), [
    ("inventory", "oversell"), ("unique-email", "email-owned-twice"),
    ("registration", "multiple-winners"), ("role-update", "lost-update"),
])
def test_unsafe_variants_are_caught_at_200_workers(unsafe_run, name, expected):
    code, by_name = unsafe_run
    assert code == 1
    w = by_name[name]
    assert w["verdict"] == "invalid"
    assert expected in {v["kind"] for v in w["violations"]}, {v["kind"] for v in w["violations"]}
