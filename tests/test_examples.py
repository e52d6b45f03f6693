"""The examples as a user runs them, through the installed console scripts (issue 10, defects 3, 4 and 15).

* `stress run --workload examples.custom_workload:CouponClaim`, typed in a checkout, imports ``examples``
  from the current directory (the console script, unlike ``python -m``, had no cwd on sys.path);
* docs/workloads.md's seat booking runs exactly as printed: VALID with 100 workers on 3 seats, and its
  ``--unsafe`` variant is caught;
* `pytest examples/test_my_code.py` without a server fails at once naming the fix, or starts its own server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from tests.conftest import REPO
from workloads import get_workload

BIN = Path(sys.executable).parent  # the venv's console scripts: `stress`, `pytest`
DOCS = REPO / "docs" / "workloads.md"


def stress(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed `stress` script, run from ``cwd`` as a user would type it."""
    return subprocess.run([str(BIN / "stress"), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def summary_of(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout)


def on(endpoint, reports: Path) -> list[str]:
    """The documented options that race the session's DynamoDB Local and keep the run out of the checkout."""
    return ["--backend", "endpoint", "--endpoint-url", endpoint.url, "--reports-dir", str(reports), "--json"]


# ----- defect 3: module:Class from the current directory --------------------------------------------------------

def test_readme_custom_workload_command_works_from_a_copy_of_the_checkout(local_endpoint, tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "examples", checkout / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    """Also the suite's run of the example workload at 200 workers (formerly a test of its own in
    tests/test_custom.py, which ran the same command from the checkout): one winner per race, and `stress check`
    reproduces the verdict."""
    proc = stress("run", "--workload", "examples.custom_workload:CouponClaim", "--workers", "200", "--keys", "3",
                  "--rounds", "1", "--timeout", "30", *on(local_endpoint, tmp_path / "reports"), cwd=checkout)
    summary = summary_of(proc)
    assert proc.returncode == 0 and summary["verdict"] == "valid", proc.stderr[-3000:]
    (workload,) = summary["workloads"]
    assert workload["name"] == "coupon-claim" and workload["verdict"] == "valid"
    assert workload["winners_per_race"] == {"min": 1, "max": 1} and workload["requests"] == 600
    again = stress("check", summary["run_dir"], "--json", cwd=checkout, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_of(again)["workloads"] == summary["workloads"]


def test_a_module_in_the_cwd_loads_without_staying_on_sys_path(tmp_path, monkeypatch):
    (tmp_path / "cwd_workload_probe.py").write_text("from examples.seat_booking import SeatBooking\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "cwd_workload_probe", raising=False)
    before = list(sys.path)
    assert get_workload("cwd_workload_probe:SeatBooking").name == "seat-booking"
    assert sys.path == before
    sys.modules.pop("cwd_workload_probe", None)


# ----- docs/workloads.md: the seat booking, exactly as printed -----------------------------------------------

def documented(prefix: str) -> list[str]:
    """The distinct `stress …` lines of docs/workloads.md's ```sh blocks that start with ``prefix``."""
    blocks = re.findall(r"^```sh\n(.*?)^```", DOCS.read_text(), flags=re.M | re.S)
    lines = [line.split(" # ")[0].strip() for block in blocks for line in block.splitlines()]
    return list(dict.fromkeys(line for line in lines if line.startswith(prefix)))


SEAT_RUNS = documented("stress run --workload examples.seat_booking:SeatBooking")


def test_the_docs_print_the_seat_booking_and_its_unsafe_variant():
    assert SEAT_RUNS == ["stress run --workload examples.seat_booking:SeatBooking --workers 100 --keys 3",
                         "stress run --workload examples.seat_booking:SeatBooking --workers 100 --keys 3 --unsafe"]


def run_documented(command: str, endpoint, tmp_path: Path) -> tuple[int, dict]:
    words = shlex.split(command)
    assert words[0] == "stress"
    proc = stress(*words[1:], *on(endpoint, tmp_path / "reports"), cwd=REPO)
    return proc.returncode, summary_of(proc)


def test_docs_seat_booking_is_valid_with_100_workers_on_3_seats(local_endpoint, tmp_path):
    code, summary = run_documented(SEAT_RUNS[0], local_endpoint, tmp_path)
    (workload,) = summary["workloads"]
    assert code == 0 and workload["verdict"] == "valid", workload["violations"][:3]
    assert workload["name"] == "seat-booking" and workload["requests"] == 300
    assert workload["ok"] == 3  # one winner per seat (the checker saw to it: the verdict is valid)
    again = stress("check", summary["run_dir"], "--json", cwd=REPO, timeout=120)
    assert again.returncode == 0 and summary_of(again)["workloads"][0]["verdict"] == "valid"


def test_docs_seat_booking_unsafe_variant_is_caught(local_endpoint, tmp_path):
    code, summary = run_documented(SEAT_RUNS[1], local_endpoint, tmp_path)
    assert code == 1 and summary["verdict"] == "invalid"
    assert "multiple-winners" in {v["kind"] for v in summary["workloads"][0]["violations"]}


def test_docs_show_the_contract_error_the_harness_prints():
    """The error line quoted in docs/workloads.md is the one a first attempt really gets."""
    from tests.test_contract import FirstSeatBooking, config

    class SeatBookingFirstAttempt(FirstSeatBooking):
        name = "seat-booking"

    with pytest.raises(UsageError) as caught:
        SeatBookingFirstAttempt(config(), "t").validate_contract()
    assert f"stress: error: {caught.value}" in DOCS.read_text()


# ----- defect 15: examples/test_my_code.py without a server -------------------------------------------------

def run_example_tests(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`pytest examples/test_my_code.py` from the checkout, through the venv's pytest script."""
    return subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "examples/test_my_code.py"],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def test_example_tests_fail_at_once_naming_the_fix_when_nothing_answers():
    with socket.socket() as closed:  # bound, never listening: connections are refused while we hold it
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        started = time.monotonic()
        proc = run_example_tests({**os.environ, "DDB_ENDPOINT": url}, timeout=120)
        elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert f"no DynamoDB answers at {url}" in output and "stress local start --port 8000" in output
    assert "2 errors" in output
    assert elapsed < 15, f"took {elapsed:.0f} s: the SDK's retries were waited for ({output[-2000:]})"


@pytest.fixture(scope="module")
def example_tests_without_a_server() -> subprocess.CompletedProcess[str]:
    """`pytest examples/test_my_code.py examples/test_my_lock.py` from the checkout, with no DDB_ENDPOINT and no
    server started by hand: one session (the plugin's own DynamoDB Local, started once) for the two tests below,
    which each ran one of the files in a session of its own."""
    env = {k: v for k, v in os.environ.items() if k != "DDB_ENDPOINT"}
    return subprocess.run([str(BIN / "pytest"), "-q", "-rA", "-p", "no:cacheprovider", "examples/test_my_code.py",
                           "examples/test_my_lock.py"], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


def passed_in(proc: subprocess.CompletedProcess[str], path: str) -> int:
    """How many tests of ``path`` the -rA summary lists as PASSED."""
    return sum(line.startswith(f"PASSED {path}::") for line in proc.stdout.splitlines())


def test_example_tests_start_their_own_dynamodb_local_without_ddb_endpoint(example_tests_without_a_server):
    proc = example_tests_without_a_server
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert passed_in(proc, "examples/test_my_code.py") == 2, proc.stdout[-3000:]


# ----- issue 12: examples/test_my_lock.py and the README's "Test your own code", as a user runs them ----------

def test_my_lock_example_runs_green_with_plain_pytest_and_no_server_started_by_hand(example_tests_without_a_server):
    proc = example_tests_without_a_server
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert passed_in(proc, "examples/test_my_lock.py") == 4, proc.stdout[-3000:]
    assert "6 passed" in proc.stdout


def readme_test_files() -> dict[str, str]:
    """The ```python blocks of README.md's "Test your own code" section, by the file name in their first line."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Test your own code\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.M | re.S)
    return {block.splitlines()[0].removeprefix("# ").strip(): block for block in blocks}


def test_readme_test_your_own_code_examples_run_as_written(tmp_path):
    files = readme_test_files()
    assert sorted(files) == ["test_counter.py", "test_coupon.py"]
    project = tmp_path / "my_project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "DDB_ENDPOINT"}
    proc = subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider"], capture_output=True, text=True,
                          timeout=300, cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
