"""Seeded server bugs (issue 11, section 3): a front to the session's DynamoDB Local (tests/lying_front.py) applies
some conditional writes and answers their first attempt with ConditionalCheckFailed, the caller's own item as
ALL_OLD. batch-load counted such a record as written (VALID); now it and inventory-idempotent name the lie
(exit 1). Without the lie both stay VALID, also under lost acks with SDK retries, where the same ALL_OLD proof
after a retried or indeterminate attempt must still be accepted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checker.verdict import INVALID
from harness.clients.outcome import Outcome
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK, pair_ops, read_events
from tests.conftest import run_stress
from tests.histories import HistoryBuilder
from tests.lying_front import LyingFront
from workloads.batch_load import BatchLoad, new_tally, settle

BATCH = ("--workload", "batch-load", "--workers", "4", "--keys", "50", "--seed", "5")
LOST_ACKS = ("--fault", "lost-ack:0.05", "--retries", "2")


@pytest.fixture
def liar(local_endpoint) -> Iterator[LyingFront]:
    """A lying front to the session's DynamoDB Local: every 3rd applied conditional first attempt is "refused"."""
    with LyingFront(local_endpoint.url, every=3) as front:
        yield front


def run_json(url: str, reports: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`stress run ... --json` against ``url``; the exit code and the verdict JSON."""
    proc = run_stress("run", *args, "--json", "--backend", "endpoint", "--endpoint-url", url,
                      "--reports-dir", str(reports))
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


def kinds(summary: dict[str, Any]) -> Counter[str]:
    """Violation kinds over every workload of a verdict."""
    return Counter(v["kind"] for w in summary["workloads"] for v in w["violations"])


def load_reports(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The completion values (per-load reports) of the run's batch loads, from its history."""
    ops = pair_ops(read_events(Path(summary["run_dir"]) / "history.jsonl"))
    return [op.result for op in ops if op.f == "load" and isinstance(op.result, dict)]


# --------------------------------------------------------------------------- batch-load

RID = "run/chunk-r0-000/w0"
RECORD = "rec-r0-00000"


def refusal(loaded_by: str, attempts: int = 1, type_: str = FAIL) -> Outcome:
    """A ConditionalCheckFailed whose ALL_OLD item was loaded by ``loaded_by``."""
    return Outcome(type_, error=CONDITIONAL_FAILED, attempts=attempts,
                   old={"Id": RECORD, "Payload": f"data-{RECORD}", "LoadedBy": loaded_by})


def test_own_loaded_by_proves_a_write_only_after_an_attempt_that_may_have_applied():
    assert settle(refusal(RID), RID) == "refused-own"  # a first attempt: nothing of ours could be there
    assert settle(refusal(RID), RID, uncertain_before=True) == "written"  # an earlier pass was indeterminate
    assert settle(refusal(RID, attempts=2, type_=INFO), RID) == "written"  # the SDK retried the put
    assert settle(refusal("someone-else"), RID) == "skipped"
    assert settle(Outcome(OK), RID) == "written"


def test_a_load_refused_against_its_own_write_is_invalid():
    """The checker's negative control on a hand-built history: the record is stored with the load's LoadedBy."""
    h = HistoryBuilder("batch-load")
    report = {"request": RID, **new_tally(), "refused_own": [RECORD]}
    h.op(0, "load", "chunk-r0-000", {"request": RID, "records": [RECORD]}, 0, 50, OK, result=report)
    stored = {"Id": RECORD, "Payload": f"data-{RECORD}", "LoadedBy": RID}
    verdict = BatchLoad.check(h.ops(), {RECORD: stored}, {})
    assert verdict.status == INVALID and {v.kind for v in verdict.violations} == {"refused-own-write"}
    assert verdict.violations[0].key == RECORD


def test_batch_load_names_a_first_attempt_refused_against_its_own_write(liar, tmp_path):
    code, summary = run_json(liar.url, tmp_path, *BATCH)
    lied = {item["Id"]["S"] for item in liar.lied if "LoadedBy" in item}  # (the warm-up registrations aside)
    assert lied, liar.lies
    assert code == 1 and summary["verdict"] == "invalid"
    assert set(kinds(summary)) == {"refused-own-write"}, kinds(summary)
    violations = summary["workloads"][0]["violations"]
    assert {v["key"] for v in violations} == lied  # every lie named, and nothing else
    assert all("first attempt" in v["message"] and "own LoadedBy" in v["message"] for v in violations)
    reports = load_reports(summary)
    assert sorted(r for report in reports for r in report["refused_own"]) == sorted(lied)
    assert not lied & {r for report in reports for r in report["written"]}  # the raw answer, not "written"


def test_batch_load_on_a_correct_server_is_valid(local_endpoint, tmp_path):
    code, summary = run_json(local_endpoint.url, tmp_path, *BATCH)
    assert code == 0 and summary["verdict"] == "valid", kinds(summary)


@pytest.mark.slow
def test_batch_load_still_accepts_its_own_write_after_a_retried_attempt(local_endpoint, tmp_path):
    """Lost acks with SDK retries: a retried put that meets its own LoadedBy is written, not refused."""
    code, summary = run_json(local_endpoint.url, tmp_path, "--workload", "batch-load", "--workers", "4", "--keys",
                             "150", "--seed", "6", *LOST_ACKS)
    assert summary["faults"].get("lost-ack", 0) > 0
    assert code == 0 and summary["verdict"] == "valid", kinds(summary)
    reports = load_reports(summary)
    assert sum(report["resolved_own"] for report in reports) > 0  # the proof was needed, and accepted
    assert not any(report["refused_own"] for report in reports)


# --------------------------------------------------------------------------- inventory-idempotent


def test_inventory_idempotent_names_a_first_attempt_refused_against_its_own_order(liar, tmp_path):
    code, summary = run_json(liar.url, tmp_path, "--workload", "inventory-idempotent", "--workers", "8", "--keys",
                             "20", "--seed", "5")
    lied = [item for item in liar.lied if "Orders" in item]
    assert lied, liar.lies
    assert code == 1 and summary["verdict"] == "invalid"
    found = kinds(summary)
    assert found["own-sale-refused"] == len(lied) and found["refused-sale-applied"] == len(lied), found
    assert "non-idempotent-retry" not in found  # the server lied: nothing is blamed on the client
