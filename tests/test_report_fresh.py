"""The report checks the history itself (defect 11): it can never disagree with `stress check`.

verdict.json is only used when the checkers cannot run, and the page says so.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.test_report import write_sample_run

DATA = Path(__file__).parent / "data"
DOUBLE_WINNER = DATA / "moto_role_update_double_winner"  # a real moto run: two CAS winners on user-0004


def _stale_valid_verdict() -> dict:
    """A verdict.json that says the run was fine."""
    workload = {"name": "role-update", "verdict": "valid", "requests": 4200, "ok": 21, "violations": [],
                "unknowns": [], "winners_per_key": {"min": 1, "max": 1}}
    return {"verdict": "valid", "workloads": [workload], "notes": []}


@pytest.fixture(scope="module")
def stale_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The double-winner run with a verdict.json that says VALID."""
    run_dir = tmp_path_factory.mktemp("stale") / "run"
    shutil.copytree(DOUBLE_WINNER, run_dir)
    (run_dir / "verdict.json").write_text(json.dumps(_stale_valid_verdict()))
    return run_dir


def test_stale_valid_verdict_json_renders_invalid(stale_run: Path) -> None:
    from harness.report import render_report

    html = render_report(stale_run).read_text()
    assert ">INVALID<" in html and ">VALID<" not in html
    assert "verdict.json says VALID but checking the history now gives INVALID" in html
    assert "multiple-winners" in html and "user-0004" in html
    assert json.loads((stale_run / "verdict.json").read_text())["verdict"] == "valid"  # left as it was


def test_stress_report_agrees_with_stress_check(stale_run: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli.app import app

    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(stale_run), "--json"])
    assert checked.exception is None, checked.output
    verdict = json.loads(checked.stdout)["verdict"]
    reported = runner.invoke(app, ["report", str(stale_run)])
    assert reported.exception is None, reported.output
    html = (stale_run / "report.html").read_text()
    badge = re.search(r'<div class="badge"[^>]*>(\w+)</div>', html)
    assert badge is not None and badge.group(1) == verdict.upper() == "INVALID"


def test_missing_verdict_json_is_checked_not_unknown(tmp_path: Path) -> None:
    from harness.report import render_report

    run_dir = tmp_path / "run"
    shutil.copytree(DOUBLE_WINNER, run_dir)  # this recorded run has no verdict.json at all
    assert not (run_dir / "verdict.json").exists()
    html = render_report(run_dir).read_text()
    assert ">INVALID<" in html
    assert "verdict checked now from history.jsonl" in html


def _unreadable_run(tmp_path: Path, verdict: dict) -> Path:
    """A run the checkers refuse (run.json of an unknown format), with ``verdict`` as its verdict.json."""
    run_dir = write_sample_run(tmp_path / "run", workers=8, keys=4)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "format": 99}))
    (run_dir / "verdict.json").write_text(json.dumps(verdict))
    return run_dir


def test_falls_back_to_verdict_json_with_a_note(tmp_path: Path) -> None:
    from harness.report import render_report

    saved = json.loads(_saved_sample_verdict(tmp_path / "src"))
    html = render_report(_unreadable_run(tmp_path, saved)).read_text()
    assert ">INVALID<" in html
    assert "the checkers could not be re-run on this directory (UsageError:" in html
    assert "run format 99 is not supported" in html
    assert "may be stale" in html
    assert "verdict read from verdict.json" in html


def _saved_sample_verdict(where: Path) -> str:
    return (write_sample_run(where, workers=8, keys=4) / "verdict.json").read_text()


def _violation(kind: str, key: str, index: int) -> dict:
    return {"kind": kind, "key": key, "message": f"{kind} #{index}", "ops": [index], "details": {}}


def test_first_three_counterexamples_then_details(tmp_path: Path) -> None:
    from harness.report import render_report

    verdict = json.loads(_saved_sample_verdict(tmp_path / "src"))
    registration = verdict["workloads"][0]
    kinds = ["stored-item-not-winner"] * 5 + ["multiple-winners"] + ["stored-item-not-winner"] * 2
    registration["violations"] = [_violation(k, "user-0003", i) for i, k in enumerate(kinds)]
    html = render_report(_unreadable_run(tmp_path, verdict)).read_text()
    details = html.index('<details class="more">')
    shown = re.findall(r'<div class="violation"><h3>([\w-]+)', html[:details])
    assert shown == ["stored-item-not-winner", "multiple-winners", "stored-item-not-winner"]  # each kind first
    assert "<summary>5 more counterexamples</summary>" in html
    assert len(re.findall(r'<div class="violation">', html[details:])) == 5
    assert "8 counterexample(s): 7 stored-item-not-winner (registration), 1 multiple-winners (registration)" in html
    race = "registration-race-user-0003-r0"
    assert html.count(f'<figure id="fig-{race}">') == 1  # embedded once; every other mention links to it
    assert html.count(f'href="#fig-{race}"') >= 7


def test_unknown_without_run_json_or_verdict(tmp_path: Path) -> None:
    from harness.report import render_report

    run_dir = write_sample_run(tmp_path / "run", workers=8, keys=2)
    for name in ("verdict.json", "run.json"):
        (run_dir / name).unlink()
    html = render_report(run_dir).read_text()
    assert ">UNKNOWN<" in html
    assert "No verdict: the run could not be checked." in html
    assert "run.json has no configuration" in html
