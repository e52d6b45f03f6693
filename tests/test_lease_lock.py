"""The lease-lock workload (issue 12): its checker on hand-built histories, one negative control per invariant,
and `stress run --workload lease-lock` as a user types it: VALID on DynamoDB Local in both patterns, expired
leases taken over, stale releases refused, and the naive read-then-write `--unsafe` caught.

Times in the hand-built histories are on the history's clock (ns); leases are 1000 ns long.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness.checker import patterns
from harness.checker.verdict import INVALID, UNKNOWN, VALID
from harness.history.events import CONDITIONAL_FAILED, pair_ops, read_events
from tests.conftest import run_stress, stdout_json
from tests.histories import HistoryBuilder
from tests.window_fake import WindowFakeThread
from workloads import get_workload
from workloads.base import Step, WorkloadConfig
from workloads.lease_check import check_leases
from workloads.lease_lock import HANDOVER, RACE, STALE, LeaseLock

KEY = "lock-0000"
LEASE = 1000
CCF = CONDITIONAL_FAILED
OWN = object()


class Locks:
    """A lease-lock history under construction: worker ``w``'s n-th lock is ``w<w>-<n>``."""

    def __init__(self) -> None:
        self.h = HistoryBuilder("lease-lock")
        self.tokens: Counter[int] = Counter()

    def acquire(self, worker: int, start: int, end: int | None, type_: str = "ok", *,
                replaced: dict | None = None, old: dict | None = None, lease: int = LEASE) -> dict:
        """An acquire whose :now is ``start``, leased until ``start + lease``; returns the lock it writes."""
        self.tokens[worker] += 1
        lock = {"LockId": KEY, "Owner": f"w{worker}-{self.tokens[worker]}", "Expires": start + lease}
        result = {"Owner": lock["Owner"], "replaced": replaced} if type_ == "ok" else None
        self.h.op(worker, "acquire", KEY, {"Owner": lock["Owner"], "Expires": lock["Expires"], "Now": start},
                  start, end, type_, error=CCF if type_ == "fail" else None, old=old, result=result)
        return lock

    def read(self, worker: int, lock: dict, start: int, end: int, seen: str | None) -> None:
        self.h.op(worker, "read", KEY, {"Owner": lock["Owner"], "Expires": lock["Expires"]}, start, end, "ok",
                  result=seen)

    def release(self, worker: int, lock: dict, start: int, end: int | None, type_: str = "ok", *,
                deleted: Any = OWN, old: dict | None = None) -> None:
        """A release; an ``ok`` one got back ``deleted`` (default: its own lock; None: the server said nothing)."""
        self.h.op(worker, "release", KEY, {"Owner": lock["Owner"]}, start, end, type_,
                  error=CCF if type_ == "fail" else None, old=old,
                  result={"deleted": lock if deleted is OWN else deleted} if type_ == "ok" else None)

    def check(self, stored: Any = None) -> Any:
        return check_leases(self.h.ops(), {KEY: stored})


def kinds(verdict) -> set[str]:
    return {v.kind for v in verdict.violations}


def handover() -> tuple[Locks, dict, dict]:
    """w0 takes the lock, w1 is refused, w0 holds, reads and releases it, w1 takes it and releases it."""
    locks = Locks()
    a = locks.acquire(0, 0, 10)
    locks.acquire(1, 5, 15, "fail", old=a)
    locks.read(0, a, 20, 30, a["Owner"])
    locks.release(0, a, 40, 50)
    b = locks.acquire(1, 60, 70)
    locks.release(1, b, 80, 90)
    return locks, a, b


# ----- the checker ----------------------------------------------------------------------------------------

def test_a_handover_is_valid():
    locks, _, _ = handover()
    verdict = locks.check()
    assert verdict.status == VALID, verdict.violations


def test_two_holders_inside_their_leases_are_caught():
    locks = Locks()
    a = locks.acquire(0, 0, 10)
    locks.acquire(1, 20, 30, replaced=a)  # took a's lock with 980 ns of its lease left
    verdict = locks.check()
    assert {"overlapping-holders", "acquired-live-lock"} <= kinds(verdict), verdict.violations
    overlap = next(v for v in verdict.violations if v.kind == "overlapping-holders")
    assert "inside their leases" in overlap.message and overlap.ops == [0, 2]


def test_a_lease_that_ran_out_is_taken_over_validly_but_not_a_moment_early():
    locks = Locks()
    a = locks.acquire(0, 0, 10)  # never released
    b = locks.acquire(1, LEASE + 1, LEASE + 20, replaced=a)
    assert locks.check(b).status == VALID
    # Negative controls: taken over halfway through a's lease, the two holders overlap ...
    early = Locks()
    a = early.acquire(0, 0, 10)
    b = early.acquire(1, LEASE // 2, LEASE // 2 + 20, replaced=a)
    assert kinds(early.check(b)) == {"overlapping-holders", "acquired-live-lock"}
    # ... and with :now at the very end of a's lease (Expires < :now did not hold) they do not, but the
    # replaced item still shows the condition broken.
    edge = Locks()
    a = edge.acquire(0, 0, 10)
    b = edge.acquire(1, LEASE, LEASE + 20, replaced=a)
    assert kinds(edge.check(b)) == {"acquired-live-lock"}


def test_an_indeterminate_acquire_may_or_may_not_hold_the_lock():
    """Not a holder (its caller never acted on it), and whatever it may have written is accounted for."""
    for stored in (None, "info"):
        locks = Locks()
        maybe = locks.acquire(0, 0, 10, "info")
        locks.release(0, maybe, 20, 30, "fail")  # it had not applied: nothing of its own to release
        b = locks.acquire(1, 40, 50)  # inside maybe's lease: no overlap, it was never held
        final = maybe if stored == "info" else b
        verdict = locks.check(final)
        assert verdict.status == VALID, (stored, verdict.violations)
    unfinished = Locks()
    unfinished.acquire(0, 0, None)  # the run died with it in flight
    b = unfinished.acquire(1, 40, 50)
    assert unfinished.check(b).status == VALID


def test_a_stale_release_must_be_refused():
    locks = Locks()
    a = locks.acquire(0, 0, 10)
    b = locks.acquire(1, LEASE + 1, LEASE + 20, replaced=a)
    locks.release(0, a, LEASE + 30, LEASE + 40, "fail", old=b)  # refused: b owns it now
    assert locks.check(b).status == VALID
    # Negative controls: the stale release deleted b's lock (the item it got back says so) ...
    told = Locks()
    a = told.acquire(0, 0, 10)
    b = told.acquire(1, LEASE + 1, LEASE + 20, replaced=a)
    told.release(0, a, LEASE + 30, LEASE + 40, deleted=b)
    assert "released-anothers-lock" in kinds(told.check())
    # ... or the server returned nothing, but b's acquire came in between: a's item was gone.
    silent = Locks()
    a = silent.acquire(0, 0, 10)
    b = silent.acquire(1, LEASE + 1, LEASE + 20, replaced=a)
    silent.release(0, a, LEASE + 30, LEASE + 40, deleted=None)
    found = silent.check()
    assert kinds(found) == {"released-anothers-lock"} and found.violations[0].ops == [0, 2, 4]


def test_an_indeterminate_acquire_may_apply_late_so_its_release_is_not_blamed():
    locks = Locks()
    maybe = locks.acquire(0, 0, 10, "info")
    b = locks.acquire(1, LEASE + 1, LEASE + 20)
    locks.release(1, b, LEASE + 30, LEASE + 40)
    locks.release(0, maybe, LEASE + 50, LEASE + 60)  # its put may have landed after b's release
    assert locks.check().status == VALID


def test_the_owners_lock_stays_its_own_inside_the_lease():
    locks = Locks()
    a = locks.acquire(0, 0, 10)
    locks.read(0, a, 20, 30, "someone-else")
    locks.release(0, a, 40, 50, "fail", old=None)
    verdict = locks.check()
    assert [v.kind for v in verdict.violations] == ["lock-lost-inside-lease"] * 2
    # Past the lease both are allowed: someone may have taken it over.
    late = Locks()
    a = late.acquire(0, 0, 10)
    late.read(0, a, LEASE + 1, LEASE + 2, None)
    late.release(0, a, LEASE + 3, LEASE + 4, "fail")
    assert late.check().status == VALID


def test_each_refusal_must_be_one_its_condition_explains():
    expired = Locks()
    a = expired.acquire(0, 0, 10)
    expired.acquire(1, LEASE + 1, LEASE + 20, "fail", old=a)  # a had run out: Expires < :now held
    assert kinds(expired.check(a)) == {"refused-expired-lock"}
    own = Locks()
    a = own.acquire(0, 0, 10)
    own.release(0, a, 20, 30, "fail", old=a)
    assert {"refused-own-release", "lock-lost-inside-lease"} <= kinds(own.check(a))


def test_the_stored_lock_is_traced_to_its_writer():
    locks, a, b = handover()
    assert kinds(locks.check(b)) == {"released-lock-still-stored"}
    assert kinds(locks.check({"LockId": KEY, "Owner": "nobody", "Expires": 5})) == {"stored-lock-unwritten"}
    refused = Locks()
    a = refused.acquire(0, 0, 10)
    c = refused.acquire(1, 5, 15, "fail", old=a)
    assert kinds(refused.check(c)) == {"stored-lock-from-failed-acquire"}
    assert check_leases(locks.h.ops(), {}).status == UNKNOWN  # no final state: undecided, not blamed


def test_lease_end_wins_over_lease_s_in_mutual_exclusion():
    locks = Locks()
    locks.acquire(0, 0, 10, lease=50)
    locks.acquire(1, 60, 70)
    ops = locks.h.ops()
    assert patterns.mutual_exclusion(ops, "acquire", "release", lease_s=10.0).status == INVALID
    verdict = patterns.mutual_exclusion(ops, "acquire", "release", lease_s=10.0,
                                        lease_end=lambda op: op.value["Expires"])
    assert verdict.status == VALID


def test_lease_lock_is_builtin_with_both_patterns_and_unsafe():
    cls = get_workload("lease-lock")
    assert cls is LeaseLock and cls.supports_unsafe and cls.supports_sustained


def test_the_burst_plan_walks_away_in_round_0_and_takes_over_in_round_1():
    def plan(rounds: int) -> list[tuple[int, int]]:
        workload = LeaseLock(WorkloadConfig(workers=3, keys=1, rounds=rounds, seed=1, run_id="r"), "t")
        return [(step.round, step.n) for step in workload.steps()]

    assert plan(3) == [(0, RACE), (1, RACE), (1, STALE), (1, HANDOVER), (2, RACE), (2, HANDOVER)]
    assert plan(1) == [(0, RACE), (0, HANDOVER)]  # one round: nothing to take over, so nobody walks away


def test_the_requests_carry_both_conditions():
    workload = LeaseLock(WorkloadConfig(workers=2, keys=1, rounds=1, seed=1, run_id="r"), "t")
    acquire = workload.request(0, Step(0, "lock-0000", n=RACE))
    params = acquire.request.params
    assert params["ConditionExpression"] == "attribute_not_exists(#id) OR #exp < :now"
    assert params["ExpressionAttributeValues"][":now"]["N"] == str(acquire.value["Now"])
    assert acquire.value["Expires"] == acquire.value["Now"] + int(LeaseLock.lease_s * 1e9)
    assert acquire.request.token == ("Owner", acquire.value["Owner"])
    release = workload.release_call("lock-0000", acquire.value["Owner"])
    assert release.request.params["ConditionExpression"] == "#owner = :me"


# ----- the command a user types ---------------------------------------------------------------------------

def run_json(*args: str, cwd: Path) -> tuple[dict[str, Any], Any]:
    proc = run_stress("run", "--workload", "lease-lock", *args, "--json", cwd=cwd)
    return stdout_json(proc), proc


def history_of(cwd: Path, summary: dict[str, Any]) -> list:
    return pair_ops(read_events(cwd / summary["run_dir"] / "history.jsonl"))


def test_burst_is_valid_and_takes_expired_leases_over(local_endpoint, tmp_path):
    """Round 0's holders walk away; round 1 takes each expired lock over and the stale holders are refused."""
    summary, proc = run_json("--workers", "20", "--keys", "2", "--endpoint-url", local_endpoint.url, cwd=tmp_path)
    assert proc.returncode == 0, (summary["verdict"], summary["workloads"][0]["violations"][:3], proc.stderr[-2000:])
    w = summary["workloads"][0]
    assert w["detection"] == summary["detection"]["lease-lock"] and w["detection"]["windows"] >= 2 * 3
    ops = history_of(tmp_path, summary)
    for key in ("lock-0000", "lock-0001"):
        won = [op for op in ops if op.key == key and op.f == "acquire" and op.type == "ok"]
        assert [op.extra["round"] for op in won] == [0, 1, 2]  # one winner per race
        walked_away, taker = won[0], won[1]
        replaced = taker.result["replaced"]
        assert replaced["Owner"] == walked_away.value["Owner"] and replaced["Expires"] < taker.value["Now"]
        assert taker.process != walked_away.process  # a holder that walked away sits the takeover race out
        stale = [op for op in ops if op.key == key and op.f == "release" and op.value == {"Owner": replaced["Owner"]}]
        assert len(stale) == 1 and stale[0].type == "fail" and stale[0].old["Owner"] == taker.value["Owner"], stale
    run_dir = tmp_path / summary["run_dir"]
    check = run_stress("check", str(run_dir), "--json", cwd=tmp_path)
    assert check.returncode == 0 and stdout_json(check)["workloads"][0]["verdict"] == "valid"
    assert "Detection power" in (run_dir / "report.html").read_text()


def test_sustained_is_valid(local_endpoint, tmp_path):
    summary, proc = run_json("--pattern", "sustained", "--duration", "3", "--keys", "2",
                             "--endpoint-url", local_endpoint.url, cwd=tmp_path)
    assert proc.returncode == 0, (summary["verdict"], summary["workloads"][0]["violations"][:3], proc.stderr[-2000:])
    w = summary["workloads"][0]
    assert w["detection"]["windows"] > 0 and w["max_in_flight"] <= 4
    calls = Counter((op.f, op.type) for op in history_of(tmp_path, summary))
    assert calls[("acquire", "ok")] and calls[("read", "ok")] and calls[("release", "ok")], calls


def test_unsafe_read_then_write_is_caught(local_endpoint, tmp_path):
    """Negative control: two workers that read the same free lock both take it. At --duration 1 --keys 1 (the
    "unsafe sustained 1 s × 1 key" setting of benchmarks/bench_lease_lock.py): caught, with overlapping holders,
    in 10 of 10 runs here and 10 of 10 on one core beside a CPU hog (14-246 violations a run); at --duration 3
    --keys 2 it was 10 of 10 too, for 2 s more."""
    summary, proc = run_json("--pattern", "sustained", "--duration", "1", "--keys", "1", "--unsafe",
                             "--endpoint-url", local_endpoint.url, cwd=tmp_path)
    assert proc.returncode == 1, (summary["verdict"], proc.stderr[-2000:])
    found = {v["kind"] for v in summary["workloads"][0]["violations"]}
    assert "overlapping-holders" in found, found


def test_a_seeded_check_then_write_server_bug_is_caught(local_endpoint, tmp_path):
    """Negative control on the server side: 1 conditional write in 5 is checked, then written 5 ms later without
    its condition (tests/window_fake.py). Caught in 5 of 5 runs here (17-40 broken writes each); at 1 in 20,
    3 of 5: most broken writes are acquires refused by a held lock, which break nothing."""
    with WindowFakeThread(local_endpoint.url, one_in=5, window_ms=5) as fake:
        summary, proc = run_json("--pattern", "sustained", "--duration", "3", "--keys", "3",
                                 "--endpoint-url", fake.url, cwd=tmp_path)
    assert fake.windows > 0
    assert proc.returncode == 1, (summary["verdict"], fake.windows, proc.stderr[-2000:])
    assert {"overlapping-holders", "acquired-live-lock"} & {v["kind"] for v in summary["workloads"][0]["violations"]}


def test_moto_runs_and_says_what_it_saw(moto_endpoint, tmp_path):
    """moto's conditional writes are not concurrency-safe: either verdict is an answer, a crash is not."""
    summary, proc = run_json("--pattern", "sustained", "--duration", "2", "--keys", "2",
                             "--endpoint-url", moto_endpoint.url, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert summary["workloads"][0]["verdict"] == ("valid" if proc.returncode == 0 else "invalid")
    assert json.loads((tmp_path / summary["run_dir"] / "run.json").read_text())["config"]["pattern"] == "sustained"
