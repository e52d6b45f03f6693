"""The sustained pattern and detection power (issue 11): what a run could have caught, measured.

The CLI tests type `stress run` as a user would. The negative controls are a read-then-write client
(`--unsafe`) and a server with a seeded check-then-write bug (tests/window_fake.py): both must be
INVALID. No assertion depends on the machine's speed: a run's counts are compared with each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.checker.detection import WEAK_N_95, combined, contention_windows, detection, detection_words, n_95
from harness.history.events import FAIL, INFO, OK, Op
from tests.conftest import run_stress
from tests.window_fake import WindowFakeThread
from workloads.registration import check_claims

# Sizes of the CLI runs, negative controls included: at --duration 2 (each workload loops 2 s) the seeded bug
# below was caught in both workloads in 10 of 10 runs here and 10 of 10 on one core beside a CPU hog (27-77
# broken writes a run), the --unsafe run in 10 of 10 and 10 of 10 (already 10 of 10 at --duration 1).
SHORT = ("--duration", "2", "--keys", "3", "--per-key", "4")
UNSAFE_SIZE = ("--duration", "2", "--keys", "2", "--per-key", "5")


def run_json(*args: str, cwd: Path, timeout: float = 300) -> tuple[dict[str, Any], Any]:
    """`stress run ... --json`: the verdict object and the finished process."""
    proc = run_stress("run", *args, "--json", cwd=cwd, timeout=timeout)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout), proc


def op(index: int, f: str, type_: str, start: int, end: int | None, key: str = "k", value: Any = None,
       result: Any = None, process: int = 0) -> Op:
    return Op(index, process, "w", f, key, value, start, type_, end, result=result)


# --------------------------------------------------------------------------- contention windows


def test_a_burst_race_is_one_window_and_lonely_writes_are_none():
    race = [op(0, "register", OK, 0, 10)] + [op(i, "register", FAIL, 0, 10) for i in range(1, 200)]
    assert contention_windows(race) == 1
    lonely = [op(i, "cas", OK, 10 * i, 10 * i + 5) for i in range(50)]  # one after another, never together
    assert contention_windows(lonely) == 0
    other_key = [op(0, "cas", OK, 0, 10, key="a"), op(1, "cas", FAIL, 0, 10, key="b")]
    assert contention_windows(other_key) == 0


def test_reads_are_not_contenders_and_an_unfinished_op_contends_forever():
    assert contention_windows([op(0, "cas", OK, 0, 10), op(1, "read", OK, 0, 10)]) == 0
    assert contention_windows([op(0, "cas", INFO, 0, None), op(1, "cas", OK, 100, 110)]) == 1
    # Touching ends (one completes as the other is invoked) are not an overlap.
    assert contention_windows([op(0, "cas", OK, 0, 10), op(1, "cas", OK, 10, 20)]) == 0
    assert contention_windows([op(0, "cas", OK, 0, 11), op(1, "cas", OK, 10, 20)]) == 2


def test_n_95_is_the_95_percent_bound():
    # (1 - 1/N)^W <= 0.05 at N = n_95: the bound holds; one more and it would not (for a large W).
    for windows in (30, 300, 3000):
        bound = n_95(windows)
        assert (1 - 1 / bound) ** windows <= 0.05 < (1 - 1 / (bound + 2)) ** windows
    assert detection([], 0) == {"windows": 0, "max_in_flight": 0, "n_95": 0, "weak": True, "pattern": "burst"}
    races = [op(10 * r + i, "register", OK if i == 0 else FAIL, 100 * r, 100 * r + 50, key=f"k{r}")
             for r in range(3 * WEAK_N_95) for i in range(5)]
    assert detection(races, 5) == {"windows": 30, "max_in_flight": 5, "n_95": 10, "weak": False, "pattern": "burst"}
    weak = detection(races[:5 * (3 * WEAK_N_95 - 3)], 5)
    assert weak["weak"]
    # A weak block says what makes more windows: the sustained pattern, or, for a sustained run, more time.
    assert detection_words(weak).endswith("too few for a meaningful statement (try --pattern sustained)")
    sustained = detection(races[:5 * (3 * WEAK_N_95 - 3)], 5, sustained=True)
    assert sustained["pattern"] == "sustained"
    assert detection_words(sustained).endswith("too few for a meaningful statement (try a longer --duration)")
    assert "try" not in detection_words(detection(races, 5)), detection_words(detection(races, 5))


def test_repeated_runs_together_have_the_bound_of_all_their_windows():
    # Two weak runs (15 windows each: n_95 5) are, together, 30 windows: a bug breaking 1 in 10 was caught with
    # >= 95 % probability by one of them.
    one = {"windows": 15, "max_in_flight": 2, "n_95": n_95(15), "weak": True, "pattern": "sustained"}
    assert combined([one, {**one, "max_in_flight": 7}]) == {"windows": 30, "max_in_flight": 7, "n_95": 10,
                                                            "weak": False, "pattern": "sustained", "runs": 2}
    assert combined([]) == {"windows": 0, "max_in_flight": 0, "n_95": 0, "weak": True, "pattern": None, "runs": 0}


# --------------------------------------------------------------------------- the sustained registration checker


def claim(index: int, token: str, type_: str, start: int, end: int | None, process: int = 0) -> Op:
    return op(index, "claim", type_, start, end, value={"RequestId": token}, process=process)


def release(index: int, token: str, type_: str, start: int, end: int | None, process: int = 0) -> Op:
    return op(index, "release", type_, start, end, value={"RequestId": token}, process=process)


def test_claim_release_cycles_are_valid_and_a_double_claim_is_not():
    good = [claim(0, "a", OK, 0, 10), claim(1, "b", FAIL, 2, 12, 1), release(2, "a", OK, 20, 30),
            claim(3, "b", OK, 40, 50, 1), op(4, "read", OK, 60, 70, result="b", process=2)]
    assert check_claims(good, {"k": {"RequestId": "b"}}).status == "valid"
    # Negative control: b claims while a holds it, with no release in between.
    double = [claim(0, "a", OK, 0, 10), claim(1, "b", OK, 20, 30, 1)]
    found = check_claims(double, {"k": {"RequestId": "b"}})
    assert found.status == "invalid", found
    # The final state is one more read: a stored holder nobody claimed last is a violation.
    assert check_claims(good, {"k": {"RequestId": "a"}}).status == "invalid"
    assert check_claims(good, {"k": None}).status == "invalid"


def test_an_indeterminate_release_may_have_happened():
    ops = [claim(0, "a", OK, 0, 10), release(1, "a", INFO, 20, None), claim(2, "b", OK, 40, 50, 1)]
    assert check_claims(ops, {"k": {"RequestId": "b"}}).status == "valid"


# --------------------------------------------------------------------------- the command a user types


# A valid sustained run that says what it could catch (a detection block per workload, more windows than a burst
# over its keys, keys x per-key workers, a loop timeline and no race timeline in its report) is the README's
# `stress run --pattern sustained --duration 20` (and its moto command), checked in tests/test_readme.py.


def test_terminal_states_the_detection_power_and_a_weak_burst_says_so(local_endpoint, tmp_path):
    proc = run_stress("run", "--workload", "registration", "--workers", "20", "--keys", "3",
                      "--endpoint-url", local_endpoint.url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "3 contention windows" in out and "too few for a meaningful statement" in out, out
    assert "VALID (weak: too few contention windows in registration)" in out
    assert out.count("too few") == 2  # the workload's line and the verdict's, nothing else repeats it
    # The report says it under its VALID badge too.
    html = next((tmp_path / "reports").glob("*/report.html")).read_text()
    assert "weak: too few contention windows in registration</b>" in html


@pytest.fixture(scope="module")
def unsafe_run(local_endpoint, tmp_path_factory) -> tuple[dict[str, Any], Any, Path]:
    """Both workloads' --unsafe variants in one sustained run (they race one after the other, each for the
    whole --duration, on tables of their own: as two runs would)."""
    cwd = tmp_path_factory.mktemp("unsafe")
    summary, proc = run_json("--pattern", "sustained", "--workload", "registration", "--workload", "role-update",
                             "--unsafe", *UNSAFE_SIZE, "--endpoint-url", local_endpoint.url, cwd=cwd)
    return summary, proc, cwd


@pytest.mark.parametrize("workload", ["registration", "role-update"])
def test_unsafe_sustained_is_invalid(unsafe_run, workload):
    """Negative control: a read-then-write client loses updates under sustained contention."""
    summary, proc, cwd = unsafe_run
    assert proc.returncode == 1, (summary["verdict"], proc.stderr[-2000:])
    (w,) = [w for w in summary["workloads"] if w["name"] == workload]
    assert w["verdict"] == "invalid", w
    violations = w["violations"]
    assert violations
    html = (cwd / summary["run_dir"] / "report.html").read_text()
    assert f"Loop timeline: {violations[0]['key']}" in html


@pytest.fixture(scope="module")
def seeded_bug_run(local_endpoint, tmp_path_factory) -> tuple[dict[str, Any], Any, int]:
    """Both workloads, one after the other, through one server front with the seeded bug (see below)."""
    with WindowFakeThread(local_endpoint.url, one_in=20, window_ms=5) as fake:
        summary, proc = run_json("--pattern", "sustained", "--workload", "registration", "--workload", "role-update",
                                 *SHORT, "--endpoint-url", fake.url, cwd=tmp_path_factory.mktemp("seeded"))
    return summary, proc, fake.windows


@pytest.mark.parametrize("workload", ["registration", "role-update"])
def test_a_seeded_check_then_write_bug_is_caught(seeded_bug_run, workload):
    """Negative control: a server that, in 1 of 20 conditional writes, checks then waits 5 ms then writes."""
    summary, proc, windows = seeded_bug_run
    assert windows > 0
    assert proc.returncode == 1, (summary["verdict"], windows, proc.stderr[-2000:])
    (w,) = [w for w in summary["workloads"] if w["name"] == workload]
    assert w["verdict"] == "invalid", (w, windows)


def test_the_window_fake_is_transparent_without_windows(local_endpoint, tmp_path):
    """Control of the control: the same front with no broken writes leaves a correct server VALID."""
    with WindowFakeThread(local_endpoint.url, one_in=10**12, window_ms=5) as fake:
        summary, proc = run_json("--pattern", "sustained", *SHORT, "--endpoint-url", fake.url, cwd=tmp_path)
    assert proc.returncode == 0, (summary["verdict"], proc.stderr[-2000:])
    assert fake.requests > 100 and fake.windows == 0


def test_sustained_runs_over_processes(local_endpoint, tmp_path):
    summary, proc = run_json("--pattern", "sustained", *SHORT, "--processes", "2", "--endpoint-url",
                             local_endpoint.url, cwd=tmp_path)
    assert proc.returncode == 0, (summary["verdict"], proc.stderr[-3000:])
    assert all(w["detection"]["windows"] > 0 for w in summary["workloads"])


@pytest.mark.parametrize(("args", "message"), [
    (("--pattern", "sustained", "--workers", "10"), "drop --workers"),
    (("--per-key", "3",), "--per-key applies to --pattern sustained"),
    (("--pattern", "sustained", "--workload", "inventory"), "has no sustained pattern"),
    (("--pattern", "bursty",), "unknown pattern 'bursty'"),
])
def test_bad_pattern_options_are_one_line_and_exit_2(tmp_path, args, message):
    proc = run_stress("run", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "reports").exists()  # refused before anything was made
