"""Faults tied to the run, not to the clock, and contention that says when it did not happen.

Every run here is the `stress` console script typed from a fresh directory with the default reports
dir, as a user would; none depends on how fast the machine is: a run keeps racing until the fault
fired, however quickly its planned races finish.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.nemesis.cover import FaultCover, extension_limit_s, missing_faults
from harness.nemesis.spec import parse_fault, parse_faults
from tests.conftest import run_stress


def run_json(cwd: Path, *args: str, timeout: float = 300) -> tuple[dict[str, Any], Any]:
    """`stress run ... --json` from ``cwd``; the verdict object and the finished process."""
    proc = run_stress("run", *args, "--json", cwd=cwd, timeout=timeout)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout), proc


def on(endpoint: Any) -> tuple[str, ...]:
    return ("--endpoint-url", endpoint.url)


def test_cover_waits_for_each_requested_kind_counted_from_the_workload_start():
    counts = {"lost-ack": 3, "latency": 10}
    cover = FaultCover(parse_faults(["lost-ack:0.1", "latency:1ms"]), lambda: counts)
    assert [str(s) for s in cover.pending()] == ["lost-ack:0.1", "latency:1ms"]  # earlier workloads' faults
    assert cover.keep_racing()
    counts["lost-ack"] += 1
    assert [str(s) for s in cover.pending()] == ["latency:1ms"] and cover.keep_racing()
    counts["latency"] += 5
    assert not cover.pending() and not cover.keep_racing()
    assert cover.injected() == {"lost-ack": 1, "latency": 5}
    assert cover.waited_for == ["lost-ack:0.1", "latency:1ms"]


def test_extension_is_bounded_and_scales_with_the_crash_interval():
    assert extension_limit_s([parse_fault("lost-ack:0.1")]) == 60
    assert extension_limit_s([parse_fault("crash:every=30s")]) == 120
    assert missing_faults(parse_faults(["reset:0.1", "stall:0.1"]), {"reset": 2}) == [parse_fault("stall:0.1")]


def test_short_run_keeps_racing_until_the_crash_fires(tmp_path):
    """Defects 1, 2, 5, 7: 50 workers × 3 keys finish in about a second; the crash comes at 3 s."""
    summary, proc = run_json(tmp_path, "--workload", "registration", "--workers", "50", "--keys", "3",
                             "--fault", "crash:every=3s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    reg = summary["workloads"][0]
    assert summary["faults"]["crash"] >= 1 and reg["faults_injected"] == {"crash": summary["faults"]["crash"]}
    meta = json.loads((tmp_path / summary["run_dir"] / "run.json").read_text())
    assert meta["extended"]["registration"]["extra_rounds"] >= 1, meta.get("extended")
    assert meta["config"]["rounds"]["registration"] == 1 + meta["extended"]["registration"]["extra_rounds"]
    assert any("extra round" in note and "crash:every=3s had fired" in note for note in summary["notes"])
    # Races wait while the server restarts: only the races in flight at the SIGKILL meet a dead server.
    assert reg["during_crash"] <= 50 * summary["faults"]["crash"], reg
    assert reg["ok"] > summary["faults"]["crash"] and reg["verdict"] == "valid"
    assert proc.stderr.count("could not be opened") <= 1 and "could not open" not in proc.stderr
    assert str(Path(summary["run_dir"])).startswith("reports/")  # the default, relative reports dir


def test_a_fault_that_never_fires_makes_the_verdict_unknown(local_endpoint, tmp_path):
    """Defect 5: the run keeps racing (here until --duration), then says which fault never came."""
    summary, proc = run_json(tmp_path, "--workload", "registration", "--workers", "10", "--keys", "2",
                             "--fault", "lost-ack:0.000001", "--duration", "1", *on(local_endpoint))
    assert proc.returncode == 3 and summary["verdict"] == "unknown", summary
    reg = summary["workloads"][0]
    assert any("lost-ack:1e-06 was requested but never injected while registration raced" in reason
               for reason in reg["unknowns"]), reg["unknowns"]
    assert summary["faults_requested"] == ["lost-ack:1e-06"] and reg["faults_injected"] == {"lost-ack": 0}
    human = run_stress("check", summary["run_dir"], cwd=tmp_path)
    assert human.returncode == 3 and "faults: requested lost-ack:1e-06; injected none" in human.stdout


def test_latency_faults_are_counted_per_workload(local_endpoint, tmp_path):
    summary, proc = run_json(tmp_path, "--workers", "10", "--keys", "2", "--fault", "latency:1ms",
                             *on(local_endpoint))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary["faults"]["latency"] == sum(w["requests"] for w in summary["workloads"])
    for w in summary["workloads"]:
        assert w["faults_injected"] == {"latency": w["requests"]}, w


def test_rate_that_kills_the_contention_says_so(local_endpoint, tmp_path):
    """Defect 6: --rate 20 starts one request every 50 ms, so 50 workers never race 50-way (unless one
    request took over a second: the note follows what the history shows, not what the options suggest).
    One key: its 50 requests already take 2.5 s at that rate (two keys only doubled it)."""
    summary, _ = run_json(tmp_path, "--workload", "registration", "--workers", "50", "--keys", "1",
                          "--rate", "20", *on(local_endpoint))
    reg = summary["workloads"][0]
    assert reg["largest_race"] == 50 and reg["max_in_flight"] < 25
    assert any("not a 50-way race" in note and "--rate 20 starts at most 1 request(s) every 50 ms" in note
               for note in summary["notes"]), summary["notes"]
    unpaced, _ = run_json(tmp_path, "--workload", "registration", "--workers", "50", "--keys", "1",
                          *on(local_endpoint))
    assert not any("-way race" in note for note in unpaced["notes"]), unpaced["notes"]
