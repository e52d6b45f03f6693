"""Tests for harness.checker.linearizability: hand-built histories, bounds, and random cross-checks."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from harness.checker.linearizability import MODELS, CasRegisterModel, check_linearizable, freeze
from harness.checker.linearizability.search import Budget, search
from harness.checker.verdict import INVALID, UNKNOWN, VALID
from harness.history.events import Op, pair_ops


class History:
    """Builds Op objects directly; indices are assigned in creation order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, f: str, start: int, end: int | None, type_: str = "ok", value: Any = None,
            result: Any = None, key: str = "k") -> int:
        op = Op(index=len(self.ops), process=len(self.ops), workload="w", f=f, key=key, value=value,
                invoke_time=start, type=type_, complete_time=end, result=result)
        self.ops.append(op)
        return op.index

    def write(self, v: Any, start: int, end: int | None, type_: str = "ok", key: str = "k") -> int:
        return self.add("write", start, end, type_, value=v, key=key)

    def read(self, v: Any, start: int, end: int | None, type_: str = "ok", key: str = "k") -> int:
        return self.add("read", start, end, type_, result=v, key=key)

    def cas(self, expected: Any, new: Any, start: int, end: int | None, type_: str = "ok",
            key: str = "k") -> int:
        return self.add("cas", start, end, type_, value={"expected": expected, "new": new}, key=key)


def check(h: History, model: str = "cas-register", initial: Any = None, **kw: Any):
    return check_linearizable(h.ops, model=model, initial=initial, **kw)


def both(h: History, model: str = "cas-register", initial: Any = None) -> str:
    """Status from the fast path and from the general search; they must agree."""
    fast = check(h, model, initial).status
    slow = check(h, model, initial, fast_path=False).status
    assert fast == slow, (fast, slow)
    return fast


# ---------------------------------------------------------------------------- register model


def test_register_sequential_valid():
    h = History()
    h.write(1, 0, 10)
    h.read(1, 20, 30)
    h.write(2, 40, 50)
    h.read(2, 60, 70)
    assert check(h, "register").status == VALID


def test_register_stale_read_invalid():
    h = History()
    h.write(1, 0, 10)
    h.write(2, 20, 30)
    r = h.read(1, 40, 50)
    v = check(h, "register")
    assert v.status == INVALID
    assert v.violations[0].kind == "not-linearizable"
    assert r in v.violations[0].ops


def test_register_concurrent_read_may_see_either_value():
    for seen in (1, 2):
        h = History()
        h.write(1, 0, 10)
        h.write(2, 20, 60)
        h.read(seen, 30, 40)
        assert check(h, "register").status == VALID


def test_register_read_of_initial_absent_value():
    h = History()
    h.read(None, 0, 5)
    h.write("a", 10, 20)
    h.read("a", 30, 40)
    assert check(h, "register").status == VALID
    h.read(None, 50, 60)
    assert check(h, "register").status == INVALID


def test_register_info_write_must_be_applied():
    h = History()
    h.write(1, 0, 10)
    h.write(5, 20, None, type_="info")
    h.read(5, 40, 50)
    h.read(5, 60, 70)
    assert check(h, "register").status == VALID


def test_register_info_write_with_completion_time_can_apply_late():
    h = History()
    h.write(5, 0, 10, type_="info")
    h.read(None, 20, 30)
    h.read(5, 40, 50)
    assert check(h, "register").status == VALID


def test_fail_ops_are_dropped():
    h = History()
    h.write(9, 0, 10, type_="fail")
    h.read(9, 20, 30)
    v = check(h, "register")
    assert v.status == INVALID
    assert v.violations[0].kind == "read-unwritten"


def test_read_of_value_never_written_is_invalid():
    h = History()
    h.cas(None, "a", 0, 10)
    h.cas("a", "b", 20, 30)
    r = h.read("zzz", 40, 50)
    for fast in (True, False):
        v = check(h, fast_path=fast)
        assert v.status == INVALID
        assert v.violations[0].kind == "read-unwritten"
        assert v.violations[0].ops == [r]


def test_minimized_counterexample_drops_unneeded_ops():
    h = History()
    w1 = h.write(1, 0, 10)
    h.read(1, 15, 18)
    w2 = h.write(2, 20, 30)
    h.read(2, 35, 38)
    r = h.read(1, 40, 50)
    h.write(7, 60, 70, key="other")
    v = check(h, "register")
    assert v.status == INVALID
    (violation,) = v.violations
    assert violation.key == "k"
    # Either {w1, w2, r} or the three reads (1, 2, 1: value 1 would need writing twice) is a
    # minimal core; the greedy pass keeps the latter.
    assert len(violation.ops) == 3 and r in violation.ops
    assert not {w1, w2} <= set(violation.ops) or violation.ops == [w1, w2, r]
    assert violation.details["minimal"] is True
    assert violation.details["culprit"] == r


# ------------------------------------------------------------------------- cas-register model


def test_cas_chain_valid():
    h = History()
    h.cas("member", "admin", 0, 10)
    h.cas("admin", "owner", 20, 30)
    h.read("owner", 40, 50)
    assert both(h, initial="member") == VALID


def test_cas_overlapping_concurrent_valid():
    h = History()
    h.cas("member", "a", 0, 100)
    h.cas("a", "b", 10, 50)
    h.read("b", 20, 60)
    h.cas("b", "c", 30, 40)
    assert both(h, initial="member") == VALID


def test_cas_needing_info_op_to_be_applied():
    h = History()
    h.cas("member", "a", 0, None, type_="info")
    h.cas("a", "b", 10, 20)
    assert both(h, initial="member") == VALID


def test_cas_valid_only_if_info_op_omitted():
    h = History()
    h.cas("member", "x", 0, 5, type_="info")
    h.cas("member", "a", 10, 20)
    h.cas("a", "b", 30, 40)
    assert both(h, initial="member") == VALID


def test_lost_update_names_both_ops_with_times():
    h = History()
    a = h.cas("member", "a", 0, 10)
    b = h.cas("member", "b", 5, 15)
    v = check(h, initial="member")
    assert v.status == INVALID
    (violation,) = v.violations
    assert violation.kind == "lost-update"
    assert violation.ops == [a, b]
    times = {d["index"]: (d["invoke_time"], d["complete_time"]) for d in violation.details["conflicting"]}
    assert times == {a: (0, 10), b: (5, 15)}
    assert check(h, initial="member", fast_path=False).status == INVALID


def test_lost_update_through_required_info_op():
    h = History()
    a = h.cas("member", "a", 0, 10)
    x = h.cas("member", "x", 0, None, type_="info")
    y = h.cas("x", "y", 20, 30)
    v = check(h, initial="member")
    assert v.status == INVALID
    assert v.violations[0].kind == "lost-update"
    assert v.violations[0].ops == sorted([a, x, y])
    assert check(h, initial="member", fast_path=False).status == INVALID


def test_cas_expected_never_written():
    h = History()
    h.cas("member", "a", 0, 10)
    bad = h.cas("ghost", "b", 20, 30)
    v = check(h, initial="member")
    assert v.status == INVALID
    assert v.violations[0].kind == "cas-unwritten-expected"
    assert v.violations[0].ops == [bad]


def test_cas_cycle_unreachable_from_initial():
    h = History()
    h.cas("x", "y", 0, 10)
    h.cas("y", "x", 20, 30)
    assert both(h, initial="member") == INVALID


def test_real_time_violation_across_the_chain():
    h = History()
    a = h.cas("m", "a", 50, 100)
    h.cas("a", "b", 0, 200)
    c = h.cas("b", "c", 0, 40)
    v = check(h, initial="m")
    assert v.status == INVALID
    assert v.violations[0].kind == "real-time-order"
    assert v.violations[0].ops == [a, c]
    assert check(h, initial="m", fast_path=False).status == INVALID


def test_time_ties_count_as_concurrent():
    h = History()
    h.cas("m", "a", 10, 20)
    h.cas("a", "b", 0, 10)
    assert both(h, initial="m") == VALID


def test_register_op_is_cas_from_absent():
    h = History()
    a = h.add("register", 0, 10, value={"Email": "a@x", "RequestId": "r1"})
    h.add("register", 1, 11, type_="fail", value={"Email": "b@x", "RequestId": "r2"})
    h.read({"RequestId": "r1", "Email": "a@x"}, 20, 30)
    assert both(h) == VALID
    b = h.add("register", 2, 12, value={"Email": "c@x", "RequestId": "r3"})
    v = check(h)
    assert v.status == INVALID
    assert v.violations[0].ops == [a, b]


def test_race_200_way_one_winner_valid():
    h = History()
    for i in range(200):
        kind = "ok" if i == 117 else ("info" if i % 50 == 3 else "fail")
        h.cas("member", f"admin-{i}", i, 1000 + i, type_=kind)
    h.read("admin-117", 2000, 2010)
    assert check(h, initial="member").status == VALID
    assert check(h, initial="member", fast_path=False).status == VALID


def test_race_200_way_two_winners_invalid():
    h = History()
    for i in range(200):
        h.cas("member", f"admin-{i}", i, 1000 + i, type_="ok" if i in (17, 151) else "fail")
    v = check(h, initial="member")
    assert v.status == INVALID
    (violation,) = v.violations
    assert violation.kind == "lost-update"
    assert violation.ops == [17, 151]
    assert check(h, initial="member", fast_path=False, time_limit_s=30).status == INVALID


def test_keys_are_checked_independently():
    h = History()
    h.cas("m", "a", 0, 10, key="k1")
    h.cas("m", "b", 0, 10, key="k2")
    h.cas("m", "c", 0, 10, key="k2")
    v = check(h, initial="m")
    assert v.status == INVALID
    assert [x.key for x in v.violations] == ["k2"]


def test_initial_by_key():
    h = History()
    h.cas("member", "a", 0, 10, key="k1")
    h.cas("owner", "b", 0, 10, key="k2")
    assert check(h, initial_by_key={"k1": "member", "k2": "owner"}).status == VALID
    assert check(h, initial="member").status == INVALID


def test_from_events_via_pair_ops():
    events = [
        {"index": 0, "type": "invoke", "process": 1, "f": "cas", "key": "u",
         "value": {"expected": "member", "new": "admin"}, "time": 100},
        {"index": 1, "type": "invoke", "process": 2, "f": "cas", "key": "u",
         "value": {"expected": "member", "new": "owner"}, "time": 110},
        {"index": 2, "type": "ok", "process": 1, "f": "cas", "key": "u", "value": None, "time": 150},
        {"index": 3, "type": "fail", "process": 2, "f": "cas", "key": "u", "value": None, "time": 160,
         "error": "ConditionalCheckFailedException"},
        {"index": 4, "type": "invoke", "process": 3, "f": "read", "key": "u", "value": None, "time": 200},
        {"index": 5, "type": "ok", "process": 3, "f": "read", "key": "u", "value": "admin", "time": 210},
        {"index": 6, "type": "invoke", "process": 4, "f": "cas", "key": "u",
         "value": {"expected": "admin", "new": "guest"}, "time": 300},
    ]
    ops = pair_ops(events)
    assert check_linearizable(ops, initial="member").status == VALID
    ops[1].type = "ok"
    v = check_linearizable(ops, initial="member")
    assert v.status == INVALID
    assert v.violations[0].ops == [0, 1]


# ---------------------------------------------------------------------------------- bounds


def _pathological() -> History:
    h = History()
    for i in range(32):
        h.write(i, 0, 100)
    h.read(3, 200, 210)
    h.read(4, 300, 310)
    return h


def test_time_bound_returns_unknown():
    v = check(_pathological(), "register", time_limit_s=0.3)
    assert v.status == UNKNOWN
    assert "budget" in v.unknowns[0]


def test_step_bound_returns_unknown():
    stats: dict[str, Any] = {}
    v = check(_pathological(), "register", max_steps=5000, stats=stats)
    assert v.status == UNKNOWN
    assert stats["search_unknown"] == 1


def test_invalid_beats_unknown_across_keys():
    h = _pathological()
    h.cas("m", "a", 0, 10, key="k2")
    h.cas("m", "b", 0, 10, key="k2")
    v = check_linearizable(h.ops, model="cas-register", initial=None, max_steps=5000,
                           initial_by_key={"k2": "m"})
    assert v.status == INVALID
    assert v.unknowns


def test_unknown_model_and_bad_ops_raise():
    with pytest.raises(ValueError, match="unknown model"):
        check_linearizable([], model="queue")
    h = History()
    h.add("increment", 0, 1)
    with pytest.raises(ValueError, match="increment"):
        check(h)


def test_models_registry_is_extensible():
    assert {"register", "cas-register"} <= set(MODELS)
    assert isinstance(MODELS["cas-register"], CasRegisterModel)
    assert freeze({"b": [1, 2], "a": {"x": 1}}) == freeze({"a": {"x": 1}, "b": [1, 2]})


# -------------------------------------------------------------------- random cross-checks


def brute_force(ops: list[Op], initial: Any) -> str:
    """Try every subset of info ops and every order: the definition, for tiny histories."""
    model = MODELS["cas-register"]
    live = [op for op in ops if op.type != "fail" and not (op.f == "read" and op.type == "info")]
    calls = [model.prepare(op) for op in live]
    definite = [c for c in calls if c.definite]
    maybe = [c for c in calls if not c.definite]
    for r in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, r):
            for order in itertools.permutations(definite + list(extra)):
                if _legal(order, model, freeze(initial)):
                    return VALID
    return INVALID


def _legal(order, model, state) -> bool:
    for pos, c in enumerate(order):
        if any(later.complete < c.invoke for later in order[pos + 1:]):
            return False
        ok, state = model.step(state, c)
        if not ok:
            return False
    return True


def random_history(rng: random.Random, n: int, reads: bool = True) -> History:
    h = History()
    pool = ["m", *(f"v{i}" for i in range(n))]
    for i in range(n):
        start = rng.randrange(0, 30)
        end = start + rng.randrange(0, 12)
        kind = rng.choices(["ok", "info", "fail"], [6, 2, 2])[0]
        if reads and rng.random() < 0.3:
            seen = rng.choice([*pool[: i + 1], "ghost"]) if rng.random() < 0.95 else "ghost"
            h.read(seen, start, end, type_=kind)
        else:
            expected = rng.choice(pool[: i + 1]) if rng.random() < 0.97 else "ghost"
            h.cas(expected, f"v{i}", start, end, type_=kind)
    return h


def test_fast_path_agrees_with_search_and_brute_force():
    rng = random.Random(20240611)
    seen = {VALID: 0, INVALID: 0}
    for _ in range(400):
        h = random_history(rng, rng.randrange(1, 7))
        status = both(h, initial="m")
        assert status == brute_force(h.ops, "m"), [vars(op) for op in h.ops]
        seen[status] += 1
    assert seen[VALID] > 40 and seen[INVALID] > 40


def simulated_history(rng: random.Random, n: int, corrupt: bool) -> History:
    """A linearizable execution of a cas/read workload, optionally with one op's outcome flipped."""
    events = []
    for i in range(n):
        start = rng.randrange(0, 4 * n)
        point = start + rng.randrange(1, 10)
        events.append((point, start, point + rng.randrange(1, 10), i))
    events.sort()
    state, history, seen_at = "m", History(), []
    for _point, start, end, i in events:
        stale = seen_at[rng.randrange(len(seen_at))] if seen_at and rng.random() < 0.3 else state
        kind = "info" if rng.random() < 0.1 else "ok"
        if rng.random() < 0.25:
            history.read(state, start, end)
        elif stale == state:
            history.cas(stale, f"v{i}", start, None if kind == "info" else end, type_=kind)
            state = f"v{i}"
        else:
            history.cas(stale, f"v{i}", start, end, type_="fail" if kind == "ok" else "info")
        seen_at.append(state)
    if corrupt:
        victim = rng.choice(history.ops)
        victim.type = "ok" if victim.type == "fail" else victim.type
        victim.complete_time = victim.complete_time or victim.invoke_time + 5
        if victim.f == "read":
            victim.result = rng.choice(["m", *(f"v{i}" for i in range(n))])
        else:
            victim.complete_time = max(0, victim.complete_time - rng.randrange(0, 20))
            victim.invoke_time = min(victim.invoke_time, victim.complete_time)
    return history


def test_fast_path_agrees_with_search_on_larger_histories():
    rng = random.Random(7)
    seen = {VALID: 0, INVALID: 0}
    for _ in range(150):
        corrupt = rng.random() < 0.5
        status = both(simulated_history(rng, rng.randrange(8, 40), corrupt), initial="m")
        assert corrupt or status == VALID
        seen[status] += 1
    assert seen[VALID] > 5 and seen[INVALID] > 5


def test_search_agrees_with_brute_force_on_registers():
    rng = random.Random(99)
    seen = {VALID: 0, INVALID: 0}
    for _ in range(300):
        h = History()
        for _ in range(rng.randrange(1, 6)):
            start = rng.randrange(0, 20)
            end = start + rng.randrange(0, 10)
            kind = rng.choices(["ok", "info", "fail"], [6, 2, 1])[0]
            if rng.random() < 0.5:
                h.write(rng.randrange(3), start, end, type_=kind)
            else:
                h.read(rng.choice([None, 0, 1, 2]), start, end, type_=kind)
        status = check(h, "register").status
        assert status == brute_force(h.ops, None), [vars(op) for op in h.ops]
        seen[status] += 1
    assert seen[VALID] > 30 and seen[INVALID] > 30


# ------------------------------------------------------------------------ minimal counterexamples


def _relaxed(ops: list[Op], indices: set[int]) -> list[Op]:
    """Copies of ``ops`` with the ops ``indices`` made indeterminate."""
    out = []
    for op in ops:
        op = Op(**{**vars(op)})
        if op.index in indices and op.type == "ok":
            op.type = "info"
        out.append(op)
    return out


def test_counterexamples_are_minimal_by_brute_force():
    """Every op of a counterexample is needed (relaxing it to info admits a linearization), and together, with
    every other op indeterminate, they admit none; checked with the brute force, on both checkers."""
    rng = random.Random(4242)
    seen = 0
    for _ in range(600):
        h = random_history(rng, rng.randrange(2, 7))
        for fast in (True, False):
            v = check(h, initial="m", fast_path=fast)
            if v.status != INVALID or v.violations[0].kind != "not-linearizable":
                continue
            core = set(v.violations[0].ops)
            others = {op.index for op in h.ops} - core
            assert brute_force(_relaxed(h.ops, others), "m") == INVALID, [vars(op) for op in h.ops]
            for i in core:
                assert brute_force(_relaxed(h.ops, others | {i}), "m") == VALID, (i, [vars(op) for op in h.ops])
            assert v.violations[0].details["minimal"] is True
            seen += 1
    assert seen > 20


def _reuse_needed() -> History:
    """Only linearizable if the indeterminate write of 4 took effect twice (reads of 4 around a write of 2,
    then a cas from 4, then a read of 2 that must come before that cas)."""
    h = History()
    h.write(4, 0, None, type_="info")
    h.read(4, 10, 40)
    h.write(2, 20, 30)
    h.read(4, 21, 25)
    h.cas(4, 3, 41, 60)
    h.read(2, 45, 90)
    h.write(4, 70, None, type_="info")
    return h


def test_reusable_search_only_over_approximates():
    """Negative control for the shrinking's cheap search: where the same indeterminate op would have to take
    effect twice, it finds a linearization that the exact search (and the brute force) rightly do not."""
    h = _reuse_needed()
    model = MODELS["cas-register"]
    calls = sorted((model.prepare(op) for op in h.ops), key=lambda c: c.invoke)
    budget = Budget(float("inf"), None)
    assert search(calls, model, None, budget, reusable=True).status == VALID
    assert search(calls, model, None, budget).status == INVALID
    assert brute_force(h.ops, None) == INVALID
    v = check(h)
    assert v.status == INVALID and v.violations[0].details["minimal"] is True
