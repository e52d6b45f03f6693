"""Recorded run directories: `stress check` must keep reaching the verdict each one earned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_stress

DATA = Path(__file__).parent / "data"
MOTO = DATA / "moto_role_update_double_winner"
LOCAL = DATA / "local_role_update_valid"
MAX_BYTES = 2_000_000


def _check(run_dir: Path, tmp_path: Path) -> tuple[int, dict]:
    """`stress check --json` on a copy (so nothing is written next to the recorded files)."""
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    proc = run_stress("check", str(copy), "--json", timeout=120)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("run_dir", [MOTO, LOCAL], ids=["moto", "local"])
def test_recorded_runs_are_complete_and_small(run_dir):
    for name in ("run.json", "history.jsonl", "final_state.json"):
        assert (run_dir / name).stat().st_size <= MAX_BYTES, name
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["workers"] == 200 and meta["config"]["workloads"] == ["role-update"]


def test_dynamodb_local_recording_is_valid(tmp_path):
    code, summary = _check(LOCAL, tmp_path)
    assert code == 0 and summary["verdict"] == "valid", summary["workloads"][0]["violations"][:3]
    (workload,) = summary["workloads"]
    assert workload["winners_per_race"] == {"min": 1, "max": 1}
    assert workload["requests"] == 200 * 7 * 3


def test_moto_recording_shows_the_double_cas_winner(tmp_path):
    code, summary = _check(MOTO, tmp_path)
    assert code == 1 and summary["verdict"] == "invalid"
    (workload,) = summary["workloads"]
    assert workload["winners_per_race"]["max"] == 2
    violations = workload["violations"]
    assert {v["key"] for v in violations} == {"user-0004"}
    lost = next(v for v in violations if v["kind"] == "lost-update")
    assert lost["ops"] == [7211, 7248] and lost["details"]["expected"] == "w0-r1"
    assert any(v["kind"] == "multiple-winners" and v["details"]["round"] == 2 for v in violations)
    # the linearizability check agrees but does not repeat the same lost update
    assert sum(v["kind"] == "lost-update" for v in violations) == 1


def test_linearizability_alone_finds_the_moto_lost_update():
    from harness.checker.linearizability import check_linearizable
    from harness.history.events import pair_ops, read_events

    ops = [op for op in pair_ops(read_events(MOTO / "history.jsonl")) if op.f in ("cas", "read")]
    verdict = check_linearizable(ops, model="cas-register", initial="member")
    assert verdict.status == "invalid"
    assert {v.key for v in verdict.violations} == {"user-0004"}
