"""End to end on real servers: both workloads at 200 workers, verdicts, history, `stress check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checker.summary import max_in_flight
from harness.history.events import pair_ops, read_events
from tests.conftest import run_stress, stdout_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_run(local_endpoint, tmp_path_factory) -> tuple[dict, int]:
    """One `stress run --workers 200 --json` of both workloads against the session's DynamoDB Local."""
    reports = tmp_path_factory.mktemp("reports")
    proc = run_stress("run", "--workers", "200", "--keys", "4", "--rounds", "2", "--json", "--seed", "7",
                      "--backend", "endpoint", "--endpoint-url", local_endpoint.url, "--reports-dir", str(reports))
    return stdout_json(proc), proc.returncode


def test_both_workloads_valid_with_one_winner_per_key(local_run):
    summary, code = local_run
    assert code == 0, summary
    assert summary["verdict"] == "valid"
    names = [w["name"] for w in summary["workloads"]]
    assert names == ["registration", "role-update"]
    for w in summary["workloads"]:
        assert w["verdict"] == "valid", w["violations"]
        assert w["winners_per_race"] == {"min": 1, "max": 1}
        assert w["indeterminate"] == 0 and w["errors"] == 0
        assert w["max_in_flight"] >= 150, w
        assert set(w["latency_ms"]) >= {"p50", "p99"}
    registration = summary["workloads"][0]
    assert registration["requests"] == 200 * 4 * 2
    assert registration["ok"] == 4 * 2
    assert registration["conditional_failed"] == registration["requests"] - registration["ok"]


def test_history_is_complete_and_in_flight_is_real(local_run):
    summary, _ = local_run
    run_dir = Path(summary["run_dir"])
    events = read_events(run_dir / "history.jsonl")
    assert sum(e["type"] == "invoke" for e in events) == sum(e["type"] != "invoke" for e in events)
    ops = pair_ops(events)
    assert all(op.complete_time is not None and op.complete_time >= op.invoke_time for op in ops)
    in_flight, _ = max_in_flight([op for op in ops if op.workload == "registration"])
    assert in_flight >= 150
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["backend"]["kind"] == "endpoint"
    assert meta["config"]["workers"] == 200 and meta["config"]["seed"] == 7
    final = json.loads((run_dir / "final_state.json").read_text())
    assert len(final["registration"]) == 8 and all(final["registration"].values())


def test_stress_check_reproduces_the_verdict(local_run):
    summary, _ = local_run
    proc = run_stress("check", summary["run_dir"], "--json")
    assert proc.returncode == 0, proc.stderr
    again = stdout_json(proc)
    assert again["workloads"] == summary["workloads"]
    assert again["verdict"] == summary["verdict"]


def test_stress_check_fails_a_tampered_history(local_run, tmp_path):
    """Editing the saved final state so a loser's payload is stored must turn the verdict invalid."""
    summary, _ = local_run
    src = Path(summary["run_dir"])
    dst = tmp_path / "tampered"
    dst.mkdir()
    for name in ("run.json", "history.jsonl", "final_state.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    final = json.loads((dst / "final_state.json").read_text())
    key = sorted(final["registration"])[0]
    loser = next(e for e in read_events(dst / "history.jsonl")
                 if e["type"] == "invoke" and e["key"] == key
                 and e["value"]["RequestId"] != final["registration"][key]["RequestId"])
    final["registration"][key] = loser["value"]
    (dst / "final_state.json").write_text(json.dumps(final))
    proc = run_stress("check", str(dst), "--json")
    assert proc.returncode == 1
    verdict = stdout_json(proc)
    assert verdict["verdict"] == "invalid"
    assert any(v["key"] == key for v in verdict["workloads"][0]["violations"])


def test_moto_server_backend_runs_both_workloads(moto_endpoint, tmp_path):
    """moto is reached the same way; its verdict is whatever it earns (it is not concurrency-safe)."""
    proc = run_stress("run", "--workers", "50", "--keys", "2", "--rounds", "1", "--json",
                      "--backend", "endpoint", "--endpoint-url", moto_endpoint.url, "--reports-dir", str(tmp_path))
    summary = stdout_json(proc)
    assert proc.returncode in (0, 1), proc.stderr
    assert {w["name"] for w in summary["workloads"]} == {"registration", "role-update"}
    assert all(w["requests"] > 0 for w in summary["workloads"])


# The default backend end to end (the run starts DynamoDB Local, names its version, stops it; 200 workers really
# in flight) is checked on the README's own `stress run --workers 200` and its other default-backend commands,
# in tests/test_readme.py (check_managed_local).


def test_rate_limited_run_measures_latency_from_the_intended_start(local_endpoint, tmp_path):
    """Under --rate every invoke records when it was due; latency counts from there (no coordinated omission)."""
    proc = run_stress("run", "--workers", "20", "--keys", "5", "--workload", "registration", "--rate", "100",
                      "--json", "--endpoint-url", local_endpoint.url, "--reports-dir", str(tmp_path))
    summary = stdout_json(proc)
    assert proc.returncode == 0, proc.stderr
    events = read_events(Path(summary["run_dir"]) / "history.jsonl")
    invokes = [e for e in events if e["type"] == "invoke"]
    assert len(invokes) == 100 and all("intended" in e for e in invokes)
    due = sorted(e["intended"] for e in invokes)
    assert due[-1] - due[0] == pytest.approx(99 * 10_000_000, rel=0.01)  # one op every 10 ms at 100 ops/s
    ops = pair_ops(events)
    assert all(op.latency_ns >= op.complete_time - op.invoke_time for op in ops)
    assert summary["workloads"][0]["duration_s"] >= 0.9  # 100 ops at 100 ops/s take about a second


def test_managed_local_heap_grows_with_the_workers(monkeypatch, tmp_path):
    import shutil

    from harness.backends import servers as backends

    monkeypatch.delenv("DDB_STRESS_LOCAL_JAVA_OPTS", raising=False)
    assert backends.local_java_opts()[0] == "-Xmx1024m"
    assert backends.local_java_opts(200) == ["-Xmx1049m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    assert backends.local_java_opts(10_000)[0] == "-Xmx2274m"  # 1 GB filled up with 10,000 requests in flight
    monkeypatch.setenv("DDB_STRESS_LOCAL_JAVA_OPTS", "-Xmx3g -XX:+UseG1GC")
    server = backends.LocalServer(tmp_path, 1, workers=10_000)
    try:
        assert server.argv("java")[:3] == ["java", "-Xmx3g", "-XX:+UseG1GC"]
    finally:
        shutil.rmtree(server.workdir)
