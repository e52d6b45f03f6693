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
    # Two workloads raced (each on its own table): every key is named with its workload.
    assert cas_invoke == {"index": 0, "type": "invoke", "process": 3, "f": "cas",
                          "value": ["role-update/user-0000", ["member", "w3-r0"]], "time": 0}
    assert cas_ok["value"] == cas_invoke["value"] and cas_ok["type"] == "ok" and cas_ok["time"] == 1_000
    assert read_invoke["value"] == ["role-update/user-0000", None]
    assert read_ok["value"] == ["role-update/user-0000", "w3-r0"]
    assert fault["process"] == "nemesis" and fault["value"] == {"kind": "lost-ack", "conn": 2}
    assert reg_invoke["value"] == ["registration/user-r0-0000", EVENTS[5]["value"]] == reg_fail["value"]
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
                        ':value ["role-update/user-0000" ["member" "w3-r0"]], :time 0}')
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
    # The command knows the workloads: role-update's one key gets its setup write (an invoke and an ok) first.
    assert out.read_text().count("\n") == len(EVENTS) + 2
    proc = run_stress("export", str(run_dir), "--format", "yaml", timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("stress: error: unknown export format 'yaml'")
    assert "Traceback" not in proc.stderr


def test_the_built_in_workloads_are_exported_as_registers_with_their_starting_values(run_dir):
    """role-update's keys start as ``member``: a setup write each, before every race op; registration's put-if-absent
    is a CAS from nil to its RequestId; one workload alone keeps its keys as they are."""
    from workloads import get_workload

    events = [
        {"index": 0, "type": "invoke", "process": 1, "workload": "registration", "f": "register", "key": "user-r0-0000",
         "value": {"Username": "user-r0-0000", "RequestId": "run/user-r0-0000/w1"}, "time": 500},
        {"index": 1, "type": "ok", "process": 1, "workload": "registration", "f": "register", "key": "user-r0-0000",
         "value": None, "time": 900},
        {"index": 2, "type": "invoke", "process": 2, "workload": "registration", "f": "claim", "key": "user-r0-0001",
         "value": {"RequestId": "a"}, "time": 1_000},
        {"index": 3, "type": "ok", "process": 2, "workload": "registration", "f": "claim", "key": "user-r0-0001",
         "value": None, "time": 1_100},
        {"index": 4, "type": "invoke", "process": 2, "workload": "registration", "f": "release", "key": "user-r0-0001",
         "value": {"RequestId": "a"}, "time": 1_200},
        {"index": 5, "type": "fail", "process": 2, "workload": "registration", "f": "release", "key": "user-r0-0001",
         "value": None, "time": 1_300},
        {"index": 6, "type": "invoke", "process": 3, "workload": "registration", "f": "read", "key": "user-r0-0001",
         "value": None, "time": 1_400},
        {"index": 7, "type": "ok", "process": 3, "workload": "registration", "f": "read", "key": "user-r0-0001",
         "value": "a", "time": 1_500},
    ]
    (run_dir / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "run.json").write_text(json.dumps({"format": 1, "config": {"workloads": ["registration"]}}))
    (run_dir / "final_state.json").write_text(json.dumps({"registration": {
        "user-r0-0001": None, "user-r0-0000": {"Username": "user-r0-0000", "RequestId": "run/user-r0-0000/w1"},
        "user-r9-0000": {"RequestId": "never raced"}}}))
    ops = json.loads(export_history(run_dir, "jepsen-json", get_workload))
    assert [(op["f"], op["value"]) for op in ops] == [
        ("cas", ["user-r0-0000", [None, "run/user-r0-0000/w1"]])] * 2 + [
        ("cas", ["user-r0-0001", [None, "a"]])] * 2 + [("cas", ["user-r0-0001", ["a", None]])] * 2 + [
        ("read", ["user-r0-0001", None]), ("read", ["user-r0-0001", "a"])] + [
        # the final state, read after every op: what each key raced holds (nothing for a released one)
        ("read", ["user-r0-0000", None]), ("read", ["user-r0-0000", "run/user-r0-0000/w1"]),
        ("read", ["user-r0-0001", None]), ("read", ["user-r0-0001", None])]
    assert [op["time"] for op in ops][:2] == [0, 400] and [op["time"] for op in ops][-4:] == [1001] * 4
    assert [op["index"] for op in ops] == list(range(12)) and {op["process"] for op in ops[-4:]} == {-1}
    (run_dir / "final_state.json").write_text("{}")

    (run_dir / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS[:5]))
    (run_dir / "run.json").write_text(json.dumps({"format": 1, "config": {"workloads": ["role-update"]}}))
    setup_invoke, setup_ok, cas_invoke, *rest = json.loads(export_history(run_dir, "jepsen-json", get_workload))
    assert setup_invoke == {"index": 0, "type": "invoke", "process": -1, "f": "write",
                            "value": ["user-0000", "member"], "time": 0}
    assert setup_ok == {**setup_invoke, "index": 1, "type": "ok"}
    assert cas_invoke == {"index": 2, "type": "invoke", "process": 3, "f": "cas",
                          "value": ["user-0000", ["member", "w3-r0"]], "time": 1}  # after the setup, always
    assert [op["index"] for op in rest] == [3, 4, 5, 6]
    # A workload that cannot be found here (a user's module:Class) is exported as recorded.
    plain = json.loads(export_history(run_dir, "jepsen-json", lambda spec: None))
    assert len(plain) == 5 and plain[0]["value"] == ["user-0000", ["member", "w3-r0"]]


def _export(run_dir: Path, out: Path, fmt: str) -> Path:
    export = run_stress("export", str(run_dir), "--format", fmt, "--output", str(out), timeout=60)
    assert export.returncode == 0, export.stderr
    return out


def _run_and_export(tmp_path: Path, endpoint: str, name: str, *args: str) -> tuple[int, Path, list[Path]]:
    """`stress run ARGS` against ``endpoint``, then `stress export` of its run dir in both formats; the run's exit
    code, its run dir and the two files."""
    reports = tmp_path / name
    proc = run_stress("run", *args, "--endpoint-url", endpoint, "--reports-dir", str(reports), "--seed", "7",
                      timeout=180)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    (run_dir,) = reports.iterdir()
    return proc.returncode, run_dir, [_export(run_dir, tmp_path / f"{name}.edn", "edn"),
                                      _export(run_dir, tmp_path / f"{name}.json", "jepsen-json")]


def test_an_exported_run_gets_the_runs_verdict_from_check_history(local_endpoint, tmp_path):
    """The user's path: `stress run`, `stress export`, then `stress check-history` on the file with its default
    options (no --initial) says what `stress run` said: VALID for runs on DynamoDB Local (burst and sustained,
    idempotent registrations under lost responses, and the example's own workload), INVALID for the unsafe
    variants. Negative controls on the VALID burst run:
    without the setup writes its file reads as INVALID, and so does its export once its final state has lost the
    last write of one key."""
    url = local_endpoint.url
    runs = {
        "burst": ("--workers", "8", "--keys", "3"),
        "sustained": ("--pattern", "sustained", "--duration", "2", "--workers", "8", "--keys", "2"),
        "unsafe-role-update": ("--workload", "role-update", "--unsafe", "--workers", "40", "--keys", "2"),
        "unsafe-registration": ("--workload", "registration", "--unsafe", "--workers", "40", "--keys", "2"),
        # logical requests retried with their request id under lost responses (the unsafe one lies: its owner's
        # retry fails against its own write, and the final state holds an id no op that happened wrote)
        "idempotent": ("--workload", "idempotent-registration", "--fault", "lost-ack:0.3", "--workers", "4",
                       "--keys", "40"),
        "unsafe-idempotent": ("--workload", "idempotent-registration", "--unsafe", "--fault", "lost-ack:0.3",
                              "--workers", "4", "--keys", "40"),
        # a workload of the user's own that says how its ops read as register ops (examples/custom_workload.py)
        "coupon": ("--workload", "examples.custom_workload:CouponClaim", "--workers", "20", "--keys", "2"),
        "unsafe-coupon": ("--workload", "examples.custom_workload:CouponClaim", "--unsafe", "--workers", "40",
                          "--keys", "2"),
    }
    for name, args in runs.items():
        code, run_dir, files = _run_and_export(tmp_path, url, name, *args)
        assert code == (1 if name.startswith("unsafe") else 0), name
        check = run_stress("check-history", *map(str, files), timeout=120)
        verdict = "INVALID" if code else "VALID"
        assert check.returncode == code, (name, check.stdout[-2000:], check.stderr[-2000:])
        assert [line.split(": ")[1].split()[0] for line in check.stdout.splitlines()
                if line.startswith(str(tmp_path))] == [verdict, verdict], (name, check.stdout[-2000:])
        if name == "coupon":  # where its module cannot be imported, it is exported as recorded, and said so
            elsewhere = run_stress("export", str(run_dir), "--format", "edn", cwd=tmp_path, timeout=60)
            assert elsewhere.returncode == 0 and ":f :claim" in elsewhere.stdout, elsewhere.stderr
            assert "note: cannot load workload 'examples.custom_workload:CouponClaim'" in elsewhere.stderr
            assert "exported as they were recorded" in elsewhere.stderr, elsewhere.stderr
        if name == "burst":
            edn_file = files[0]
            lines = edn_file.read_text().splitlines()
            setup = [line for line in lines if ":process -1" in line]
            # role-update's 3 keys start as member; each key of both workloads ends with a read of its final value
            assert sum(":f :write" in line and '"member"]' in line for line in setup) == 2 * 3
            assert sum(":f :read" in line for line in setup) == 2 * (3 + 3) and lines[-1] in setup
            assert all('"role-update/' in line or '"registration/' in line for line in lines)
            edn_file.write_text("".join(line + "\n" for line in lines if ":f :write" not in line))
            bare = run_stress("check-history", str(edn_file), timeout=120)
            assert bare.returncode == 1 and "cas-unwritten-expected" in bare.stdout, bare.stdout[-2000:]

            state_file = run_dir / "final_state.json"
            state = json.loads(state_file.read_text())
            state["role-update"]["user-0001"]["Role"] = "member"  # the chain's writes lost: back where it began
            state_file.write_text(json.dumps(state))
            lost = run_stress("check-history", str(_export(run_dir, tmp_path / "lost.edn", "edn")), timeout=120)
            assert lost.returncode == 1 and 'key "role-update/user-0001"' in lost.stdout, lost.stdout[-2000:]
            assert "role-update/user-0000" not in lost.stdout, lost.stdout[-2000:]
