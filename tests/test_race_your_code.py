"""Race your own code (issue 12): race/hammer for plain and async functions, the run directory they write,
the pattern checkers with their negative controls, and the pytest plugin.

Negative controls: every checker is run on a seeded broken implementation (pure histories first, then real
code against DynamoDB Local: a lock without a condition, a read-then-write counter, a save without a version
check, a lease model switched off) and must fail there. The broken code forces the bad interleaving with a
barrier between its steps, so the controls never depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from examples.test_my_lock import (
    LockBusy,
    VersionConflict,
    acquire_lock,
    load_points,
    next_invoice_number,
    release_lock,
    save_points,
)
from harness.checker import patterns
from harness.history.events import FAIL, INFO, OK, Op
from harness.testing import RaceResult, hammer, race, recorded
from tests.conftest import REPO, run_stress

BIN = Path(sys.executable).parent
MS = 1_000_000


def op(index: int, process: int, f: str, start_ms: float, end_ms: float, type_: str = OK, *, key: str = "k",
       value: object = None, result: object = None) -> Op:
    """A recorded call: invoked at ``start_ms``, completed at ``end_ms``."""
    return Op(index=index, process=process, workload="calls", f=f, key=key, value=value,
              invoke_time=int(start_ms * MS), type=type_, complete_time=int(end_ms * MS), result=result)


# ----- the pure checkers, each with its negative control --------------------------------------------------------

def test_unique_claim_passes_one_winner_per_key_and_catches_two():
    good = [op(0, 0, "claim", 0, 5), op(1, 1, "claim", 0, 5, FAIL), op(2, 2, "claim", 0, 5, key="other")]
    assert patterns.unique_claim(good).status == "valid"
    broken = [*good, op(3, 3, "claim", 1, 6)]  # negative control: a second winner on "k"
    verdict = patterns.unique_claim(broken)
    assert verdict.status == "invalid" and [v.kind for v in verdict.violations] == ["multiple-winners"]
    assert patterns.unique_claim([op(0, 0, "claim", 0, 5, FAIL)]).violations[0].kind == "no-winner"
    assert patterns.unique_claim([op(0, 0, "claim", 0, 5, INFO)]).status == "unknown"  # it may have won


def lock_history(second_start_ms: float, release_ms: float | None = 10, lease_end: bool = False) -> list[Op]:
    """Worker 0 acquires at 0-1 ms and releases at ``release_ms``; worker 1 acquires at ``second_start_ms``."""
    ops = [op(0, 0, "acquire", 0, 1, result="w0")]
    if release_ms is not None:
        ops.append(op(1, 0, "release", release_ms, release_ms + 1))
    ops.append(op(2, 1, "acquire", second_start_ms, second_start_ms + 1, result="w1"))
    return ops


def test_mutual_exclusion_passes_handovers_and_catches_overlapping_holders():
    assert patterns.mutual_exclusion(lock_history(11), "acquire", "release").status == "valid"
    broken = lock_history(4)  # negative control: worker 1 holds from 5 ms, worker 0 until 10 ms
    verdict = patterns.mutual_exclusion(broken, "acquire", "release")
    assert verdict.status == "invalid" and verdict.violations[0].kind == "overlapping-holders"
    assert verdict.violations[0].ops == [0, 2] and verdict.violations[0].details["holders"] == ["w0", "w1"]


def test_mutual_exclusion_lets_a_lease_run_out_but_not_be_cut_short():
    never_released = lock_history(60, release_ms=None)  # worker 0 never releases; worker 1 takes over at 61 ms
    assert patterns.mutual_exclusion(never_released, "acquire", "release", lease_s=0.05).status == "valid"
    # Negative controls: without a lease, or inside it, the takeover is a second holder.
    assert patterns.mutual_exclusion(never_released, "acquire", "release").status == "invalid"
    assert patterns.mutual_exclusion(never_released, "acquire", "release", lease_s=0.1).status == "invalid"


def test_mutual_exclusion_ignores_failed_acquires_and_one_worker_twice():
    ops = [op(0, 0, "acquire", 0, 1), op(1, 1, "acquire", 2, 3, FAIL), op(2, 2, "acquire", 2, 3, INFO),
           op(3, 0, "acquire", 4, 5)]
    assert patterns.mutual_exclusion(ops, "acquire", "release").status == "valid"


def test_unique_sequence_passes_distinct_values_and_catches_a_duplicate():
    good = [op(i, i, "next", 0, 1, result=i + 1) for i in range(5)]
    assert patterns.unique_sequence(good, "next", allow_gaps=False).status == "valid"
    broken = [*good, op(5, 5, "next", 0, 1, result=3)]  # negative control: 3 handed out twice
    verdict = patterns.unique_sequence(broken, "next")
    assert verdict.status == "invalid" and verdict.violations[0].details == {"value": 3, "times": 2}


def test_unique_sequence_reports_gaps_apart_and_fails_them_only_on_request():
    gappy = [op(0, 0, "next", 0, 1, result=1), op(1, 1, "next", 0, 1, result=4)]
    assert patterns.sequence_gaps(gappy) == {"k": [2, 3]}
    assert patterns.unique_sequence(gappy).status == "valid"
    assert patterns.unique_sequence(gappy, allow_gaps=False).violations[0].kind == "gap"
    explained = [*gappy, op(2, 2, "next", 0, 1, INFO), op(3, 3, "next", 0, 1, FAIL)]
    assert patterns.unique_sequence(explained, allow_gaps=False).status == "valid"  # two calls may have used them


def saves(*expected: int, returned_offset: int = 1) -> list[Op]:
    return [op(i, i, "save", i, i + 1, value={"version": v}, result=v + returned_offset)
            for i, v in enumerate(expected)]


def test_versioned_update_passes_a_chain_and_catches_a_lost_update():
    assert patterns.versioned_update(saves(0, 1, 2), "save", "version", final_version=3).status == "valid"
    broken = saves(0, 1, 1)  # negative control: two saves from version 1
    verdict = patterns.versioned_update(broken, "save", "version", final_version=2)
    assert {v.kind for v in verdict.violations} == {"lost-update", "final-version"}
    assert patterns.versioned_update(saves(0, returned_offset=2), "save", "version").violations[0].kind \
        == "version-skip"
    assert patterns.versioned_update(saves(0, 1), "save", "version", final_version=1).violations[0].kind \
        == "final-version"  # a save acknowledged but not in the final version


def test_check_all_names_the_pattern_and_refuses_unknown_ones():
    verdict = patterns.check_all(saves(0, 0), [{"pattern": "versioned-update", "f": "save", "version_arg": "version"}])
    assert verdict.violations[0].message.startswith("versioned-update: ")
    with pytest.raises(ValueError, match="unknown check pattern 'nope'"):
        patterns.check_spec([], {"pattern": "nope"})


# ----- the drivers ----------------------------------------------------------------------------------------------

def test_race_releases_plain_functions_on_threads_all_at_once(tmp_path):
    inside = threading.Barrier(12)  # only passable if all 12 calls run at the same time

    def contender(worker: int) -> int:
        inside.wait(timeout=30)
        if worker % 3:
            raise KeyError(worker)
        return worker

    result = race(contender, workers=12, args_for=lambda w: (w,), run_dir=tmp_path / "run")
    assert isinstance(result, RaceResult) and result.max_in_flight() == 12
    assert [a.value for a in result.winners] == [0, 3, 6, 9] and result.errors() == {"KeyError": 8}
    assert len({a.worker for a in result.attempts}) == 12
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["config"]["mode"] == "threads" and meta["config"]["workers"] == 12


async def test_race_of_a_coroutine_function_stays_on_the_event_loop(tmp_path):
    async def contender(worker: int) -> int:
        await asyncio.sleep(0)
        return worker

    result = await race(contender, workers=10, args_for=lambda w: (w,), run_dir=tmp_path / "run")
    assert sorted(a.value for a in result.winners) == list(range(10))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["mode"] == "asyncio"


def test_a_coroutine_from_a_plain_test_is_one_clear_error(tmp_path):
    async def not_awaited() -> None: ...

    with pytest.raises(TypeError, match="returned a coroutine: await race"):
        race(lambda: not_awaited(), workers=2, run_dir=tmp_path / "run")


async def test_a_plain_function_inside_an_async_test_is_one_clear_error(tmp_path):
    with pytest.raises(TypeError, match="not an awaitable: inside a running event loop"):
        await race(lambda: 1, workers=2, run_dir=tmp_path / "run")


def test_hammer_is_bounded_in_count_and_time(tmp_path):
    count = hammer(lambda: None, workers=4, duration=60, max_calls=37, run_dir=tmp_path / "count", name="noop")
    assert len(count.attempts) == 37
    timed = hammer(lambda: None, workers=2, duration=0.2, max_calls=10**9, run_dir=tmp_path / "time", name="noop")
    assert 0 < len(timed.attempts) < 10**9  # it returned: the duration ended the loop
    with pytest.raises(ValueError, match="duration > 0"):
        hammer(lambda: None, duration=0)


async def test_async_hammer_is_bounded_in_count(tmp_path):
    async def tick() -> int:
        await asyncio.sleep(0)
        return 1

    result = await hammer(tick, workers=3, duration=60, max_calls=20, run_dir=tmp_path / "run")
    assert len(result.attempts) == 20 and all(a.ok for a in result.attempts)


def test_recorded_calls_replace_the_raced_call_and_do_nothing_elsewhere(tmp_path):
    @recorded(key="name")
    def take(name: str, worker: int) -> str:
        return f"{name}-{worker}"

    assert take("x", 1) == "x-1"  # outside a race: a plain call

    def worker_body(worker: int) -> None:
        take("a", worker)
        take("b", worker)

    result = race(worker_body, workers=3, args_for=lambda w: (w,), run_dir=tmp_path / "run")
    assert sorted((o.f, o.key) for o in result.ops) == sorted([("take", "a"), ("take", "b")] * 3)
    assert {o.value["worker"] for o in result.ops} == {0, 1, 2}


def test_a_race_refuses_a_run_dir_that_holds_a_run(tmp_path):
    race(lambda: 1, workers=1, run_dir=tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a recorded run"):
        race(lambda: 1, workers=1, run_dir=tmp_path / "run")


# ----- the run directory: stress check and stress report --------------------------------------------------------

def test_stress_check_and_report_reach_the_assertions_verdict(tmp_path):
    counter = {"n": 0}
    gate = threading.Barrier(6)

    def next_number() -> int:  # seeded broken: read, wait for every reader, write
        seen = counter["n"]
        gate.wait(timeout=30)
        counter["n"] = seen + 1
        return seen + 1

    result = race(next_number, workers=6, run_dir=tmp_path / "run")
    with pytest.raises(AssertionError) as caught:
        result.assert_unique_sequence()
    message = str(caught.value)
    assert "value 1 was handed out 6 times" in message
    assert f"history: {tmp_path / 'run' / 'history.jsonl'}" in message
    assert f"report: {tmp_path / 'run' / 'report.html'}" in message and (tmp_path / "run" / "report.html").exists()
    proc = run_stress("check", str(tmp_path / "run"), "--json", timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (workload,) = json.loads(proc.stdout)["workloads"]
    assert workload["name"] == "calls" and workload["violations"][0]["kind"] == "duplicate-value"
    drawn = run_stress("report", str(tmp_path / "run"), timeout=180)
    assert drawn.returncode == 0 and "report.html" in drawn.stdout, drawn.stderr[-2000:]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "INVALID" in page.upper() and "Recorded by harness.testing" in page and "Reproduce with" not in page
    assert "test_stress_check_and_report_reach_the_assertions_verdict" in page  # the test that repeats it


def test_stress_check_passes_a_valid_race(tmp_path):
    lock = threading.Lock()

    def next_number(state={"n": 0}) -> int:  # noqa: B006 - the counter lives in the default, on purpose
        with lock:
            state["n"] += 1
            return state["n"]

    race(next_number, workers=5, run_dir=tmp_path / "run").assert_unique_sequence(allow_gaps=False)
    proc = run_stress("check", str(tmp_path / "run"), "--json", timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "valid", proc.stdout[-2000:]


def test_stress_run_refuses_the_recorded_calls_workload(tmp_path):
    proc = run_stress("run", "--workload", "workloads.recorded_calls:RecordedCalls", "--backend", "moto",
                      "--reports-dir", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and "stress run cannot race it" in proc.stderr and "Traceback" not in proc.stderr


# ----- real code against DynamoDB Local: the example's functions pass, seeded broken ones are caught -------------

def grab_lock_unconditionally(ddb, table: str, name: str, owner: str, lease_s: float) -> str:
    """Seeded broken lock: the put has no condition, so every caller 'acquires' it."""
    ddb.put_item(TableName=table, Item={"LockName": {"S": name}, "Owner": {"S": owner}})
    return owner


@pytest.mark.ddb_table(hash_key="LockName")
def test_mutual_exclusion_catches_a_lock_without_a_condition(ddb_table):
    ddb = ddb_table.client()
    acquire, release = recorded(grab_lock_unconditionally, key="name"), recorded(release_lock, key="name")
    everyone_holds = threading.Barrier(6)

    def use(worker: int) -> None:
        acquire(ddb, ddb_table.name, "job", f"w{worker}", 30.0)
        everyone_holds.wait(timeout=60)  # all six are in the critical section at once
        release(ddb, ddb_table.name, "job", f"w{worker}")

    result = race(use, workers=6, args_for=lambda w: (w,))
    with pytest.raises(AssertionError, match="both held"):
        result.assert_mutual_exclusion("grab_lock_unconditionally", "release_lock", lease_s=30.0)


@pytest.mark.ddb_table(hash_key="LockName")
def test_a_lease_that_runs_out_is_taken_over_without_a_violation(ddb_table):
    """The real lock with a short lease and a holder that overstays it: a takeover after the lease is fine,
    and the same history with the lease model switched off is caught (negative control of the lease)."""
    ddb = ddb_table.client()
    acquire, release = recorded(acquire_lock, key="name"), recorded(release_lock, key="name")
    first_holds, taken_over = threading.Event(), threading.Event()

    def use(worker: int) -> None:
        if worker == 0:
            acquire(ddb, ddb_table.name, "job", "w0", 0.3)
            first_holds.set()
            # Overstay the lease until the taker's acquire has *returned* (bounded: 60 s). Polling the item's
            # owner instead let w0 release between the taker's write and its recorded completion, so the
            # no-lease control saw no overlap (CI, 2026-12-01).
            taken_over.wait(timeout=60)
            release(ddb, ddb_table.name, "job", "w0")
            return
        first_holds.wait(timeout=60)
        for _ in range(600):
            try:
                acquire(ddb, ddb_table.name, "job", f"w{worker}", 30.0)
                taken_over.set()
                return
            except LockBusy:
                threading.Event().wait(0.1)

    result = race(use, workers=2, args_for=lambda w: (w,))
    assert result.calls("acquire_lock") == 2
    result.assert_mutual_exclusion("acquire_lock", "release_lock", lease_s=0.3)
    with pytest.raises(AssertionError, match="both held"):
        result.assert_mutual_exclusion("acquire_lock", "release_lock")  # no lease: w0 still held it


def read_then_write_counter(ddb, table: str, gate: threading.Barrier) -> int:
    """Seeded broken counter: read, (every reader reads first), write read + 1."""
    item = ddb.get_item(TableName=table, Key={"LockName": {"S": "counter"}}, ConsistentRead=True).get("Item")
    seen = int(item["N"]["N"]) if item else 0
    gate.wait(timeout=60)
    ddb.put_item(TableName=table, Item={"LockName": {"S": "counter"}, "N": {"N": str(seen + 1)}})
    return seen + 1


@pytest.mark.ddb_table(hash_key="LockName")
def test_unique_sequence_passes_an_atomic_counter_and_catches_read_then_write(ddb_table):
    ddb = ddb_table.client()
    race(next_invoice_number, workers=20, args_for=lambda w: (ddb, ddb_table.name)).assert_unique_sequence(
        allow_gaps=False)
    gate = threading.Barrier(8)
    broken = race(read_then_write_counter, workers=8, args_for=lambda w: (ddb, ddb_table.name, gate))
    with pytest.raises(AssertionError, match="value 1 was handed out 8 times"):
        broken.assert_unique_sequence()


def save_points_unconditionally(ddb, table: str, player: str, expected_version: int, points: int) -> int:
    """Seeded broken optimistic save: it forgets the version condition."""
    ddb.put_item(TableName=table, Item={"LockName": {"S": player}, "Version": {"N": str(expected_version + 1)},
                                        "Points": {"N": str(points)}})
    return expected_version + 1


@pytest.mark.ddb_table(hash_key="LockName")
@pytest.mark.parametrize("save_fn", [save_points, save_points_unconditionally], ids=["conditional", "broken"])
def test_versioned_update_catches_a_save_without_its_condition(ddb_table, save_fn):
    ddb, save = ddb_table.client(), recorded(save_fn, key="player")
    everyone_read = threading.Barrier(6)

    def add_a_point() -> None:
        version, points = load_points(ddb, ddb_table.name, "p")
        everyone_read.wait(timeout=60)  # all six saves start from the same version
        with contextlib.suppress(VersionConflict):
            save(ddb, ddb_table.name, "p", version, points + 1)

    result = race(add_a_point, workers=6)
    version, points = load_points(ddb, ddb_table.name, "p")
    if save_fn is save_points:
        result.assert_versioned_update(save_fn.__name__, "expected_version", final_version=version, initial_version=0)
        assert points == result.calls(save_fn.__name__) == 1
        return
    with pytest.raises(AssertionError, match="6 saves succeeded from version 0") as caught:
        result.assert_versioned_update(save_fn.__name__, "expected_version", final_version=version, initial_version=0)
    assert "5 update(s) lost" in str(caught.value)


@pytest.mark.ddb_table(hash_key="Id", range_key="Part", range_type="N")
def test_the_table_fixture_takes_its_key_schema_from_the_marker(ddb_table):
    schema = ddb_table.client().describe_table(TableName=ddb_table.name)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in schema["KeySchema"]} == {("Id", "HASH"), ("Part", "RANGE")}
    assert ddb_table.key("a") == {"Id": {"S": "a"}}


# ----- the plugin as a user meets it (a subprocess pytest) -----------------------------------------------------

USER_TEST = '''
def test_uses_dynamodb(ddb_table):
    assert ddb_table.name
'''


def run_user_pytest(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    return subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", *options, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env or dict(os.environ))


def path_without_java(tmp_path: Path) -> dict[str, str]:
    """PATH with every directory holding `java` left out (and the venv's bin kept)."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "java").exists()]
    env = {k: v for k, v in os.environ.items() if k != "DDB_ENDPOINT"}
    env["PATH"] = os.pathsep.join([str(BIN), *kept])
    return env


def test_the_plugin_without_java_fails_at_once_naming_the_fix(tmp_path):
    env = path_without_java(tmp_path)
    assert shutil.which("java", path=env["PATH"]) is None
    proc = run_user_pytest(tmp_path, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 error" in out, out[-3000:]
    assert "ddb_endpoint needs Java 17+ on PATH" in out and "Traceback" not in out
    skipped = run_user_pytest(tmp_path, "--ddb-missing=skip", env=env)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout[-3000:]


def test_the_plugin_uses_a_given_endpoint(tmp_path, local_endpoint):
    proc = run_user_pytest(tmp_path, "--ddb-endpoint", local_endpoint.url)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:]


def test_the_plugin_is_registered_by_the_package():
    proc = subprocess.run([str(BIN / "pytest"), "--help"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert "--ddb-endpoint" in proc.stdout and "--ddb-missing" in proc.stdout
