"""`stress run --processes P`: races spread over OS processes, one merged history, the same verdicts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from harness.engine.processes import merge_histories, worker_ids
from harness.history.events import HistoryWriter, pair_ops, read_events
from tests.conftest import run_stress, stdout_json
from tests.test_cli_errors import assert_usage_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_process_run(local_endpoint, tmp_path_factory) -> tuple[dict, int]:
    """Both default workloads, 200 workers over 2 processes, on the session's DynamoDB Local."""
    reports = tmp_path_factory.mktemp("reports")
    proc = run_stress("run", "--workers", "200", "--keys", "4", "--rounds", "2", "--processes", "2", "--json",
                      "--seed", "11", "--backend", "endpoint", "--endpoint-url", local_endpoint.url,
                      "--reports-dir", str(reports))
    return stdout_json(proc), proc.returncode


def test_two_processes_are_valid_and_concurrent(two_process_run):
    summary, code = two_process_run
    assert code == 0, summary
    assert [w["name"] for w in summary["workloads"]] == ["registration", "role-update"]
    for w in summary["workloads"]:
        assert w["verdict"] == "valid", w["violations"]
        assert w["winners_per_race"] == {"min": 1, "max": 1}
        assert w["max_in_flight"] >= 150, w
    assert summary["workloads"][0]["requests"] == 200 * 4 * 2
    assert len(summary["client"]["registration"]["processes"]) == 2


def test_merged_history_pairs_every_op_and_has_both_processes(two_process_run):
    summary, _ = two_process_run
    run_dir = Path(summary["run_dir"])
    assert not list(run_dir.glob("history.*.jsonl")), "per-process histories are removed once merged"
    events = read_events(run_dir / "history.jsonl")
    assert [e["index"] for e in events] == list(range(len(events)))
    assert all(a["time"] <= b["time"] for a, b in itertools.pairwise(events))
    ops = pair_ops(events)
    assert sum(e["type"] == "invoke" for e in events) == len(ops) == 2 * 200 * 4 * 2
    assert all(op.complete_time is not None and op.complete_time >= op.invoke_time for op in ops)
    for name in ("registration", "role-update"):
        assert {op.process % 2 for op in ops if op.workload == name} == {0, 1}
        assert len({op.process for op in ops if op.workload == name}) == 200
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["processes"] == 2 and meta["processes"]["count"] == 2
    assert meta["processes"]["races"] == 4 * 2 * 2


def test_stress_check_reproduces_the_merged_verdict(two_process_run):
    summary, _ = two_process_run
    proc = run_stress("check", summary["run_dir"], "--json")
    assert proc.returncode == 0, proc.stderr
    again = stdout_json(proc)
    assert again["workloads"] == summary["workloads"] and again["verdict"] == summary["verdict"]


def test_unsafe_registration_over_two_processes_is_caught(local_endpoint, tmp_path):
    proc = run_stress("run", "--workers", "200", "--keys", "2", "--rounds", "1", "--workload", "registration",
                      "--unsafe", "--processes", "2", "--json", "--backend", "endpoint",
                      "--endpoint-url", local_endpoint.url, "--reports-dir", str(tmp_path))
    summary = stdout_json(proc)
    assert proc.returncode == 1, proc.stderr
    assert summary["verdict"] == "invalid"
    assert any(v["kind"] == "multiple-winners" for v in summary["workloads"][0]["violations"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--processes", "0"], "--processes must be at least 1"),
        (["--workers", "2", "--processes", "3"], "--processes 3 is more than --workers 2"),
    ],
)
def test_bad_process_counts(args, fragment, tmp_path):
    assert_usage_error(run_stress("run", *args, "--reports-dir", str(tmp_path), timeout=60), fragment)


def test_faults_work_with_processes(local_endpoint, tmp_path):
    """One engine (issue 13): the fault proxy sits in front of every process's workers, and the SDK's retries
    and the ALL_OLD resolution work there as in one process."""
    proc = run_stress("run", "--processes", "2", "--fault", "lost-ack:0.05", "--retries", "2", "--workers", "50",
                      "--keys", "3", "--json", "--endpoint-url", local_endpoint.url, cwd=tmp_path)
    summary = stdout_json(proc)
    assert proc.returncode == 0 and summary["verdict"] == "valid", proc.stderr[-2000:]
    assert summary["faults"]["lost-ack"] > 0
    for w in summary["workloads"]:
        assert w["faults_injected"]["lost-ack"] > 0 and w["retried"] > 0, w
        assert len(summary["client"][w["name"]]["processes"]) == 2


def test_a_crash_with_processes_extends_the_run_and_loses_nothing(tmp_path):
    """Races of both processes wait while the server restarts; extra rounds are jobs of their own."""
    proc = run_stress("run", "--processes", "2", "--workload", "registration", "--workers", "20", "--keys", "2",
                      "--fault", "crash:every=2s", "--json", cwd=tmp_path)
    summary = stdout_json(proc)
    reg = summary["workloads"][0]
    assert proc.returncode == 0 and reg["faults_injected"]["crash"] >= 1, proc.stderr[-2000:]
    assert not [v for v in reg["violations"] if v["kind"] == "acknowledged-write-lost"]
    meta = json.loads((tmp_path / summary["run_dir"] / "run.json").read_text())
    assert meta["extended"]["registration"]["extra_rounds"] >= 1
    assert reg["keys"] == 2 * meta["config"]["rounds"]["registration"]  # every extra round raced fresh keys


def test_worker_ids_cover_every_worker_once():
    shares = [worker_ids(k, 3, 10) for k in range(3)]
    assert shares[0] == [0, 3, 6, 9]
    assert sorted(w for share in shares for w in share) == list(range(10))


MS = 1_000_000  # the hand-built histories count in milliseconds


def _child_history(path: Path, events: list[tuple[str, int, int]], truncate: bool = False) -> None:
    with HistoryWriter(path) as history:
        for type_, process, time_ in events:
            history.append({"type": type_, "process": process, "workload": "registration", "f": "register",
                            "key": "k", "value": None, "time": time_ * MS, "round": 0})
    if truncate:
        with path.open("ab") as fh:
            fh.write(b'{"index": 99, "type": "ok", "pro')  # a child killed mid-line


def test_merge_orders_by_time_and_keeps_each_childs_pairs(tmp_path):
    # Child 0 runs workers 0 and 2, child 1 runs worker 1; equal times across children; an invoke and
    # its completion at the same instant; child 1's file ends with a line cut short.
    _child_history(tmp_path / "history.0.jsonl", [("invoke", 0, 10), ("invoke", 2, 20), ("ok", 0, 30),
                                                   ("invoke", 0, 40), ("fail", 2, 40), ("fail", 0, 50)])
    _child_history(tmp_path / "history.1.jsonl", [("invoke", 1, 20), ("fail", 1, 20), ("invoke", 1, 45)],
                   truncate=True)
    with HistoryWriter(tmp_path / "history.jsonl") as out:
        starts = merge_histories([tmp_path / f"history.{k}.jsonl" for k in range(2)], out)
    events = read_events(tmp_path / "history.jsonl")
    assert [e["index"] for e in events] == list(range(9))
    assert [(e["process"], e["time"] // MS) for e in events] == [
        (0, 10), (2, 20), (1, 20), (1, 20), (0, 30), (0, 40), (2, 40), (1, 45), (0, 50)]
    ops = {(op.process, op.invoke_time // MS): op for op in pair_ops(events)}
    assert {key: op.type for key, op in ops.items()} == {
        (0, 10): "ok", (2, 20): "fail", (1, 20): "fail", (0, 40): "fail", (1, 45): "info"}
    assert ops[(1, 45)].complete_time is None  # its completion was the cut line: it stays open
    summary = starts.summary()
    # HdrHistogram (the one percentile, 3 significant digits): within 0.1 % of the exact 10 ms
    assert summary["races"] == 1 and summary["start_skew_ms"]["max"] == pytest.approx(10.0, rel=1e-3)
