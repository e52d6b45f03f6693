"""The Pro-tip workloads: idempotent-registration (request-id retries) and batch-load / batch-load-tx
(bulk loads that retry only failed items). Negative controls for every checker invariant on hand-built
histories, then real runs on DynamoDB Local under 5% lost acks: valid, and the naive variants caught."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from harness.checker.verdict import INVALID, UNKNOWN, VALID
from harness.history.events import CONDITIONAL_FAILED, FAIL, INFO, OK
from tests.histories import HistoryBuilder, payload
from tests.test_fault_runs import on_endpoint, ops_of, run_in_process, workload
from workloads import get_workload
from workloads.batch_load import BatchLoad, BatchLoadTx, is_preexisting
from workloads.idempotent_registration import IdempotentRegistration

CCF = CONDITIONAL_FAILED
KEY = "user-r0-0000"
WORKLOADS = ["idempotent-registration", "batch-load", "batch-load-tx"]


# --------------------------------------------------------------------------- idempotent-registration


def attempt(type_: str, old_worker: int | None = None) -> dict[str, Any]:
    """One recorded attempt of a logical request."""
    entry: dict[str, Any] = {"type": type_}
    if type_ == FAIL:
        entry["error"] = CCF
    if old_worker is not None:
        entry["old"] = payload(KEY, old_worker)["RequestId"]
    return entry


def request(h: HistoryBuilder, worker: int, type_: str, tries: list[dict[str, Any]]) -> None:
    """A logical registration request with its attempts."""
    h.op(worker, "register", KEY, payload(KEY, worker), worker, 100 + worker, type_,
         error=CCF if type_ == FAIL else None, result={"tries": tries}, attempts=len(tries))


def owner_race(owner_tries: list[dict[str, Any]], owner_type: str = OK) -> HistoryBuilder:
    """Worker 1 owns the key (after ``owner_tries``); workers 2 and 3 lose and see worker 1's item."""
    h = HistoryBuilder("idempotent-registration")
    request(h, 1, owner_type, owner_tries)
    request(h, 2, FAIL, [attempt(FAIL, 1)])
    request(h, 3, FAIL, [attempt(INFO), attempt(FAIL, 1)])
    return h


def check_idem(h: HistoryBuilder, stored: dict[str, Any] | None):
    return IdempotentRegistration.check(h.ops(), {KEY: stored}, {})


def kinds(verdict) -> set[str]:
    return {v.kind for v in verdict.violations}


def test_idempotent_retry_after_lost_ack_is_valid():
    verdict = check_idem(owner_race([attempt(INFO), attempt(OK)]), payload(KEY, 1))
    assert verdict.status == VALID, verdict.violations


def test_idempotent_owner_retry_reported_failed_is_invalid():
    """The --unsafe outcome: the owner's retry hit its own item and was reported as failed."""
    verdict = check_idem(owner_race([attempt(INFO), attempt(FAIL, 1)], owner_type=FAIL), payload(KEY, 1))
    assert verdict.status == INVALID
    assert kinds(verdict) == {"owner-reported-failure"}
    assert "retry of an applied write" in verdict.violations[0].message


def test_idempotent_second_successful_request_is_invalid():
    h = owner_race([attempt(OK)])
    request(h, 4, OK, [attempt(OK)])
    verdict = check_idem(h, payload(KEY, 1))
    assert verdict.status == INVALID
    assert kinds(verdict) == {"acknowledged-write-lost"}
    assert "acknowledged write lost" in verdict.violations[0].message


def test_idempotent_stored_item_mixing_payloads_is_a_double_write():
    mixed = {**payload(KEY, 1), "Email": payload(KEY, 2)["Email"]}
    verdict = check_idem(owner_race([attempt(OK)]), mixed)
    assert verdict.status == INVALID and kinds(verdict) == {"double-write"}


def test_idempotent_stored_item_of_no_request_is_invalid():
    verdict = check_idem(owner_race([attempt(OK)]), payload(KEY, 99))
    assert "stored-item-unwritten" in kinds(verdict)


def test_idempotent_acknowledged_owner_missing_is_invalid():
    verdict = check_idem(owner_race([attempt(OK)]), None)
    assert verdict.status == INVALID and "acknowledged-write-lost" in kinds(verdict)


def test_idempotent_nobody_registered_and_nothing_indeterminate_is_invalid():
    h = HistoryBuilder("idempotent-registration")
    request(h, 1, FAIL, [attempt(FAIL)])
    request(h, 2, FAIL, [attempt(FAIL)])
    verdict = check_idem(h, None)
    assert kinds(verdict) == {"no-owner"}


def test_idempotent_loser_that_saw_another_owner_is_invalid():
    h = owner_race([attempt(OK)])
    request(h, 4, FAIL, [attempt(FAIL, 3)])
    verdict = check_idem(h, payload(KEY, 1))
    assert kinds(verdict) == {"loser-saw-other-item"}


def test_idempotent_all_indeterminate_is_not_invalid_and_missing_state_is_unknown():
    h = HistoryBuilder("idempotent-registration")
    request(h, 1, INFO, [attempt(INFO)] * 4)
    assert check_idem(h, payload(KEY, 1)).status == VALID
    assert check_idem(h, None).status == VALID
    assert IdempotentRegistration.check(h.ops(), {}, {}).status == UNKNOWN


# --------------------------------------------------------------------------- batch-load


PLAIN, SEEDED, OTHER = "rec-r0-00000", "rec-r0-00003", "rec-r0-00001"
CHUNK_KEY = "chunk-r0-000"


def rid(worker: int) -> str:
    return f"run/{CHUNK_KEY}/w{worker}"


def load(h: HistoryBuilder, worker: int, records: list[str], written: list[str] = (), skipped: list[str] = (),
         unknown: list[str] = (), type_: str = OK) -> None:
    """One worker's load with its report."""
    report = {"request": rid(worker), "written": list(written), "skipped": list(skipped), "unknown": list(unknown),
              "first_try": len(written), "conditional_skips": len(skipped), "retries": 0, "requests": len(records)}
    h.op(worker, "load", CHUNK_KEY, {"request": rid(worker), "records": records}, worker, 50 + worker, type_,
         result=report)


def stored(record: str, worker: int | None) -> dict[str, Any]:
    """A record as the table holds it (``worker=None``: the seeded original)."""
    if worker is None:
        return {"Id": record, "Payload": f"data-{record}", "LoadedBy": "seed", "Source": "seed"}
    return {"Id": record, "Payload": f"data-{record}", "LoadedBy": rid(worker)}


def good_load() -> tuple[HistoryBuilder, dict[str, Any]]:
    """Workers 0 and 1 both load three records; one pre-exists, each of the other two has one writer."""
    h = HistoryBuilder("batch-load")
    records = [PLAIN, OTHER, SEEDED]
    load(h, 0, records, written=[PLAIN], skipped=[OTHER, SEEDED])
    load(h, 1, records, written=[OTHER], skipped=[PLAIN, SEEDED])
    return h, {PLAIN: stored(PLAIN, 0), OTHER: stored(OTHER, 1), SEEDED: stored(SEEDED, None)}


def test_preexisting_layout_is_a_pure_function_of_the_id():
    assert is_preexisting(SEEDED) and not is_preexisting(PLAIN) and not is_preexisting(OTHER)


def test_batch_load_good_history_is_valid():
    h, state = good_load()
    verdict = BatchLoad.check(h.ops(), state, {})
    assert verdict.status == VALID, verdict.violations


def test_batch_load_overwritten_preexisting_record_is_invalid():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN, SEEDED], written=[PLAIN, SEEDED])
    verdict = BatchLoad.check(h.ops(), {PLAIN: stored(PLAIN, 0), SEEDED: stored(SEEDED, 0)}, {})
    assert kinds(verdict) == {"preexisting-overwritten", "written-over-existing"}


def test_batch_load_record_written_twice_is_invalid():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN], written=[PLAIN])
    load(h, 1, [PLAIN], written=[PLAIN])
    verdict = BatchLoad.check(h.ops(), {PLAIN: stored(PLAIN, 1)}, {})
    assert {"double-write", "acknowledged-write-lost"} == kinds(verdict)


def test_batch_load_acknowledged_record_missing_is_lost():
    h, state = good_load()
    verdict = BatchLoad.check(h.ops(), {**state, PLAIN: None}, {})
    assert kinds(verdict) == {"acknowledged-write-lost"}
    assert verdict.violations[0].message.startswith("acknowledged write lost")


def test_batch_load_record_everyone_skipped_but_absent_is_lost():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN], skipped=[PLAIN])
    load(h, 1, [PLAIN], skipped=[PLAIN])
    verdict = BatchLoad.check(h.ops(), {PLAIN: None}, {})
    assert kinds(verdict) == {"record-lost"}


def test_batch_load_absent_record_with_only_unknown_loads_is_unknown():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN], unknown=[PLAIN], type_=INFO)
    assert BatchLoad.check(h.ops(), {PLAIN: None}, {}).status == UNKNOWN


def test_batch_load_write_reported_as_skip_is_invalid():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN], skipped=[PLAIN])
    load(h, 1, [PLAIN], skipped=[PLAIN])
    verdict = BatchLoad.check(h.ops(), {PLAIN: stored(PLAIN, 0)}, {})
    assert kinds(verdict) == {"write-reported-skipped"}


def test_batch_load_dropped_unprocessed_record_is_invalid():
    h = HistoryBuilder("batch-load")
    load(h, 0, [PLAIN, OTHER], written=[PLAIN])
    verdict = BatchLoad.check(h.ops(), {PLAIN: stored(PLAIN, 0), OTHER: stored(OTHER, 0)}, {})
    assert kinds(verdict) == {"record-unaccounted"}


def test_batch_load_stored_record_of_a_stranger_is_invalid():
    h, state = good_load()
    verdict = BatchLoad.check(h.ops(), {**state, OTHER: stored(OTHER, 7)}, {})
    assert "stored-item-unwritten" in kinds(verdict)


def test_batch_load_tx_shares_the_checker_and_is_registered():
    h, state = good_load()
    assert BatchLoadTx.check(h.ops(), state, {}).status == VALID
    for name in WORKLOADS:
        assert get_workload(name).name == name and get_workload(name).supports_unsafe


# --------------------------------------------------------------------------- real runs


def fault_run(endpoint: Any, reports: Any, unsafe: bool) -> dict[str, Any]:
    """All three workloads, 4 workers, 150 keys (300 records per load), 5% lost acks, no SDK retries."""
    return run_in_process(reports, workloads=WORKLOADS, workers=4, keys=150, faults=["lost-ack:0.05"],
                          unsafe=unsafe, seed=21, **on_endpoint(endpoint))


@pytest.fixture(scope="module")
def safe_run(local_endpoint, tmp_path_factory) -> dict[str, Any]:
    return fault_run(local_endpoint, tmp_path_factory.mktemp("reports"), unsafe=False)


@pytest.mark.slow
def test_pro_tip_workloads_are_valid_under_lost_acks(safe_run):
    assert safe_run["faults"]["lost-ack"] > 0
    for name in WORKLOADS:
        w = workload(safe_run, name)
        assert w["verdict"] == "valid", (name, w["violations"][:3], w["unknowns"][:3])


@pytest.mark.slow
def test_idempotent_retries_succeed_after_a_lost_ack(safe_run):
    tries = Counter(tuple(t["type"] for t in op.result["tries"])
                    for op in ops_of(safe_run, "idempotent-registration"))
    assert tries[(INFO, OK)] > 0, tries  # the owner's retry met its own item and succeeded
    assert not any(FAIL in t[:-1] for t in tries), tries


@pytest.mark.slow
@pytest.mark.parametrize("name", ["batch-load", "batch-load-tx"])
def test_batch_loads_report_every_record_and_sum_up(safe_run, name):
    ops = ops_of(safe_run, name)
    totals = Counter()
    for op in ops:
        for field in ("first_try", "conditional_skips", "retries", "requests"):
            totals[field] += op.result[field]
        totals["written"] += len(op.result["written"])
    records = 150 * 2
    assert totals["written"] == records - sum(map(is_preexisting, (f"rec-r0-{i:05d}" for i in range(records))))
    assert totals["conditional_skips"] > 0 and totals["retries"] > 0
    if name == "batch-load":
        assert totals["first_try"] > 0


@pytest.mark.slow
def test_naive_variants_are_caught_under_lost_acks(local_endpoint, tmp_path):
    summary = fault_run(local_endpoint, tmp_path, unsafe=True)
    assert summary["verdict"] == "invalid"
    idem = workload(summary, "idempotent-registration")
    assert idem["verdict"] == "invalid" and {v["kind"] for v in idem["violations"]} == {"owner-reported-failure"}
    for name in ("batch-load", "batch-load-tx"):
        w = workload(summary, name)
        found = {v["kind"] for v in w["violations"]}
        assert w["verdict"] == "invalid" and {"preexisting-overwritten", "double-write"} <= found, found
