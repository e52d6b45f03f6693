"""A history whose invokes and completions do not pair up is refused, naming the line (issue 10, item 11);
`stress check` saves the fresh verdict so `stress report` and a later `stress check` agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.history.events import HistoryError, read_events
from tests.test_cli_errors import assert_usage_error
from tests.test_cli_usability import stress

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "local_role_update_valid"  # a recorded valid run


def event(index: int, type_: str, process: int | str, time: int) -> dict:
    return {"index": index, "type": type_, "process": process, "workload": "registration", "f": "register",
            "key": "user-0000", "value": None, "time": time}


def write_history(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_a_duplicated_completion_names_its_line(tmp_path):
    events = [event(0, "invoke", 1, 10), event(1, "ok", 1, 20), event(2, "ok", 1, 20)]
    with pytest.raises(HistoryError, match=r"history.jsonl:3: ok completion of process 1 has no open invoke"):
        read_events(write_history(tmp_path / "history.jsonl", events))


def test_a_completion_without_invoke_names_its_line(tmp_path):
    events = [event(0, "invoke", 1, 10), event(1, "fail", 2, 20), event(2, "ok", 1, 30)]
    with pytest.raises(HistoryError, match=r"history.jsonl:2: fail completion of process 2"):
        read_events(write_history(tmp_path / "history.jsonl", events))


def test_a_second_invoke_of_an_open_process_names_both_lines(tmp_path):
    events = [event(0, "invoke", 1, 10), event(1, "invoke", 2, 11), event(2, "invoke", 1, 12)]
    with pytest.raises(HistoryError, match=r"history.jsonl:3: second invoke of process 1 .* line 1"):
        read_events(write_history(tmp_path / "history.jsonl", events))


def test_open_invokes_at_the_end_and_fault_events_are_fine(tmp_path):
    """A run that died leaves invokes without completions; the nemesis has no pairs at all."""
    events = [event(0, "invoke", 1, 10), event(1, "info", "nemesis", 11), event(2, "info", "nemesis", 12),
              event(3, "ok", 1, 13), event(4, "invoke", 1, 14), event(5, "invoke", 2, 15)]
    assert len(read_events(write_history(tmp_path / "history.jsonl", events))) == 6


def _copy_sample(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(SAMPLE, run_dir, ignore=shutil.ignore_patterns("README.md"))
    return run_dir


def test_check_refuses_a_duplicated_completion_line(tmp_path):
    run_dir = _copy_sample(tmp_path)
    lines = (run_dir / "history.jsonl").read_text().splitlines(keepends=True)
    lineno = next(n for n, line in enumerate(lines, 1) if json.loads(line)["type"] == "ok")
    lines.insert(lineno, lines[lineno - 1])  # the completion, twice
    (run_dir / "history.jsonl").write_text("".join(lines))
    proc = stress("check", str(run_dir), cwd=tmp_path, timeout=60)
    assert_usage_error(proc, f"history.jsonl:{lineno + 1}: ok completion")


def test_check_rewrites_verdict_json_with_the_fresh_verdict(tmp_path):
    run_dir = _copy_sample(tmp_path)
    (run_dir / "verdict.json").write_text(json.dumps({"verdict": "invalid", "workloads": [], "stale": True}))
    proc = stress("check", str(run_dir), "--json", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["verdict"] == "valid"
    assert json.loads((run_dir / "verdict.json").read_text()) == printed
    assert not list(run_dir.glob("*.tmp"))
    again = stress("check", str(run_dir), "--json", cwd=tmp_path, timeout=60)
    assert json.loads(again.stdout) == printed
