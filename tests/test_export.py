"""`stress export`: a run's history as Jepsen ops, in JSON and EDN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.history.export import FORMATS, edn, export_history
from tests.conftest import run_stress

EVENTS = [
    {"index": 0, "type": "invoke", "process": 3, "workload": "role-update", "f": "cas", "key": "user-0000",
     "value": {"expected": "member", "new": "w3-r0"}, "time": 1_000, "round": 0},
    {"index": 1, "type": "invoke", "process": 4, "workload": "role-update", "f": "read", "key": "user-0000",
     "value": None, "time": 1_100, "round": 0},
    {"index": 2, "type": "ok", "process": 3, "workload": "role-update", "f": "cas", "key": "user-0000",
     "value": "w3-r0", "time": 2_000, "round": 0, "attempts": 1},
    {"index": 3, "type": "info", "process": "nemesis", "f": "fault", "value": {"kind": "lost-ack", "conn": 2},
     "time": 2_050},
    {"index": 4, "type": "ok", "process": 4, "workload": "role-update", "f": "read", "key": "user-0000",
     "value": "w3-r0", "time": 2_100, "round": 0},
    {"index": 5, "type": "invoke", "process": 5, "workload": "registration", "f": "register", "key": "user-r0-0000",
     "value": {"Username": "user-r0-0000", "Email": "a \"quoted\" \\ name@example.com"}, "time": 2_200},
    {"index": 6, "type": "fail", "process": 5, "workload": "registration", "f": "register", "key": "user-r0-0000",
     "value": None, "time": 2_300, "error": "ConditionalCheckFailedException"},
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A minimal run directory holding the events above."""
    (tmp_path / "run.json").write_text(json.dumps({"format": 1, "config": {"workloads": ["role-update"]}}))
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (tmp_path / "final_state.json").write_text("{}")
    return tmp_path


def test_jepsen_json_has_jepsen_op_shape(run_dir):
    ops = json.loads(export_history(run_dir, "jepsen-json"))
    assert [op["index"] for op in ops] == list(range(len(EVENTS)))
    assert all({"index", "type", "process", "f", "value", "time"} <= op.keys() for op in ops)
    cas_invoke, read_invoke, cas_ok, fault, read_ok, reg_invoke, reg_fail = ops
    assert cas_invoke == {"index": 0, "type": "invoke", "process": 3, "f": "cas",
                          "value": ["user-0000", ["member", "w3-r0"]], "time": 0}
    assert cas_ok["value"] == cas_invoke["value"] and cas_ok["type"] == "ok" and cas_ok["time"] == 1_000
    assert read_invoke["value"] == ["user-0000", None] and read_ok["value"] == ["user-0000", "w3-r0"]
    assert fault["process"] == "nemesis" and fault["value"] == {"kind": "lost-ack", "conn": 2}
    assert reg_invoke["value"] == ["user-r0-0000", EVENTS[5]["value"]] == reg_fail["value"]
    assert reg_fail["type"] == "fail" and reg_fail["error"] == "ConditionalCheckFailedException"


def _balanced(text: str) -> bool:
    """Brackets outside strings match up."""
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for token in re.findall(r'"(?:\\.|[^"\\])*"|[()\[\]{}]', text):
        if token[0] == '"':
            continue
        if token in pairs:
            if not stack or stack.pop() != pairs[token]:
                return False
        else:
            stack.append(token)
    return not stack


def test_edn_is_one_balanced_map_per_op_with_keywords(run_dir):
    lines = export_history(run_dir, "edn").splitlines()
    assert len(lines) == len(EVENTS)
    assert all(line.startswith("{") and line.endswith("}") and _balanced(line) for line in lines)
    assert lines[0] == ('{:index 0, :type :invoke, :process 3, :f :cas, '
                        ':value ["user-0000" ["member" "w3-r0"]], :time 0}')
    assert ":process :nemesis" in lines[3] and ":f :fault" in lines[3] and '{:kind "lost-ack", :conn 2}' in lines[3]
    assert ':type :fail' in lines[6] and ':error "ConditionalCheckFailedException"' in lines[6]
    assert r'"a \"quoted\" \\ name@example.com"' in lines[5]


def test_edn_values():
    assert edn({"Role": "x", "with space": None, "n": 1.5, "ok": True, "l": [1, 2]}) == \
        '{:Role "x", "with space" nil, :n 1.5, :ok true, :l [1 2]}'


def test_unknown_format_is_refused(run_dir):
    with pytest.raises(ValueError, match="unknown export format"):
        export_history(run_dir, "xml")
    assert FORMATS == ("jepsen-json", "edn")


def test_cli_export_to_file_and_bad_format(run_dir, tmp_path):
    out = tmp_path / "history.edn"
    proc = run_stress("export", str(run_dir), "--format", "edn", "--output", str(out), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().count("\n") == len(EVENTS)
    proc = run_stress("export", str(run_dir), "--format", "yaml", timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("stress: error: unknown export format 'yaml'")
    assert "Traceback" not in proc.stderr
