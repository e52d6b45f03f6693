"""Benchmark harness.checker.linearizability on generated (seeded) histories.

Cases: a CAS-chain history over many keys with realistic overlap, a 200-way single-key race,
a registration + role-update (CAS) history, and the general search (fast path off) on the
same kind of histories; plus two histories with one injected anomaly (a lost update for the fast
path, a stale read for the search and its counterexample shrinking). Histories are simulated
linearizable executions, so each verdict is known; the script exits 1 if one differs.

    python benchmarks/bench_linearizability.py            # full sizes (about a minute)
    python benchmarks/bench_linearizability.py --small    # a few seconds (smoke test)
"""

from __future__ import annotations

import argparse
import bisect
import copy
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.checker.linearizability import check_linearizable
from harness.checker.verdict import Verdict
from harness.history.events import Op

MS = 1_000_000  # ns


@dataclass
class Case:
    """One benchmark case: a history and how to check it."""

    name: str
    ops: list[Op]
    check: Callable[[list[Op]], Verdict]
    expect: str = "valid"


class _KeyState:
    """The true sequential history of one key: linearization points and the values they set."""

    def __init__(self, initial: Any) -> None:
        self.points: list[int] = [-1]
        self.values: list[Any] = [initial]

    def at(self, t: int) -> Any:
        """The value the key held at time ``t``."""
        return self.values[bisect.bisect_right(self.points, t) - 1]

    def set(self, t: int, value: Any) -> None:
        self.points.append(t)
        self.values.append(value)


def _timing(rng: random.Random, span_ns: int) -> tuple[int, int, int]:
    """Invoke, linearization point and completion of one request (log-normal latency)."""
    start = rng.randrange(span_ns)
    latency = int(rng.lognormvariate(1.0, 0.6) * MS)
    point = start + int(latency * rng.random())
    return start, point, start + latency


def _op(key: str, f: str, value: Any, times: tuple[int, int, int], type_: str, result: Any = None) -> Op:
    start, _, end = times
    return Op(index=0, process=0, workload="bench", f=f, key=key, value=value, invoke_time=start,
              type=type_, complete_time=None if type_ == "info" and end % 2 else end, result=result)


def _finish(ops: list[Op]) -> list[Op]:
    """Order ops by invoke time and number them like a history file would."""
    ops.sort(key=lambda op: op.invoke_time)
    for i, op in enumerate(ops):
        op.index = 2 * i
        op.process = i % 200
    return ops


def _role_updates(rng: random.Random, key: str, n: int, span_ns: int, out: list[Op]) -> None:
    """``n`` cas/read ops on one key: workers cas from the value they last saw (maybe stale)."""
    planned = sorted((_timing(rng, span_ns) for _ in range(n)), key=lambda t: t[1])
    state = _KeyState("member")
    for i, times in enumerate(planned):
        start, point, _ = times
        current = state.values[-1]
        if rng.random() < 0.15:
            out.append(_op(key, "read", None, times, "ok", result=current))
            continue
        expected = state.at(start - 2 * MS) if rng.random() < 0.3 else state.at(start)
        new = f"{key}-r{i}"
        applied = expected == current
        type_ = "info" if rng.random() < 0.02 else ("ok" if applied else "fail")
        if applied and (type_ == "ok" or rng.random() < 0.5):
            state.set(point, new)
        elif type_ == "info":
            applied = False
        out.append(_op(key, "cas", {"expected": expected, "new": new}, times, type_))


def cas_chain_history(rng: random.Random, n_ops: int, n_keys: int) -> list[Op]:
    """Role-update ops spread over ``n_keys`` keys, several workers per key at a time."""
    ops: list[Op] = []
    per_key = max(1, n_ops // n_keys)
    span = per_key * 3 * MS
    for k in range(n_keys):
        _role_updates(rng, f"role-{k:06d}", per_key, span, ops)
    return _finish(ops)


def race_history(rng: random.Random, n_workers: int = 200) -> list[Op]:
    """``n_workers`` cas from the same value at once: one wins, the rest fail or time out."""
    planned = sorted((_timing(rng, 2 * MS) for _ in range(n_workers)), key=lambda t: t[1])
    ops = []
    for i, times in enumerate(planned):
        type_ = "ok" if i == 0 else ("info" if rng.random() < 0.05 else "fail")
        ops.append(_op("hot", "cas", {"expected": "member", "new": f"admin-{i}"}, times, type_))
    return _finish(ops)


def registration_history(rng: random.Random, n_ops: int) -> tuple[list[Op], dict[str, Any]]:
    """Half registration races (a few workers per username), half role-update CAS chains."""
    ops: list[Op] = []
    initial: dict[str, Any] = {}
    n_users = max(1, n_ops // 16)
    for u in range(n_users):
        key = f"user-{u:07d}"
        planned = sorted((_timing(rng, 4 * MS) for _ in range(8)), key=lambda t: t[1])
        for w, times in enumerate(planned):
            payload = {"Username": key, "Email": f"w{w}@example.com", "RequestId": f"r-{u}-{w}"}
            ops.append(_op(key, "register", payload, times, "ok" if w == 0 else "fail"))
    n_roles = max(1, n_ops // 2 // 8)
    for r in range(n_roles):
        key = f"role-{r:07d}"
        initial[key] = "member"
        _role_updates(rng, key, 8, 24 * MS, ops)
    return _finish(ops), initial


def lost_update(rng: random.Random, ops: list[Op]) -> list[Op]:
    """Copy of ``ops`` where one failed cas is reported ok: it overwrote a value another op took."""
    ops = [copy.copy(op) for op in ops]
    victim = rng.choice([op for op in ops if op.f == "cas" and op.type == "fail"
                         and op.value["expected"] != "member"])
    victim.type = "ok"
    return ops


def stale_read(rng: random.Random, ops: list[Op]) -> list[Op]:
    """Copy of ``ops`` where a late read returns the value of an early write."""
    ops = [copy.copy(op) for op in ops]
    written = [op.value["new"] for op in ops if op.f == "cas" and op.type == "ok"]
    reads = [op for op in ops if op.f == "read"]
    victim = reads[len(reads) * 3 // 4]
    victim.result = written[len(written) // 4]
    return ops


def build_cases(small: bool, seed: int) -> list[Case]:
    """The benchmark cases at full or smoke-test size."""
    rng = random.Random(seed)
    chain_ops, chain_keys = (5_000, 250) if small else (100_000, 5_000)
    reg_ops = 20_000 if small else 1_000_000
    search_ops, search_keys = (2_000, 200) if small else (20_000, 2_000)
    chain = cas_chain_history(rng, chain_ops, chain_keys)
    race = race_history(rng)
    registration, reg_initial = registration_history(rng, reg_ops)
    searched = cas_chain_history(rng, search_ops, search_keys)
    one_key = stale_read(rng, cas_chain_history(rng, search_ops // 10, 1))

    def role(ops: list[Op]) -> Verdict:
        return check_linearizable(ops, initial="member", time_limit_s=120)

    def role_search(ops: list[Op]) -> Verdict:
        return check_linearizable(ops, initial="member", time_limit_s=120, fast_path=False)

    def reg(ops: list[Op]) -> Verdict:
        return check_linearizable(ops, initial=None, initial_by_key=reg_initial, time_limit_s=300)

    return [
        Case(f"cas chain, {chain_keys} keys", chain, role),
        Case("200-way race, 1 key", race, role),
        Case("200-way race, search only", race, role_search),
        Case("registration + cas", registration, reg),
        Case(f"cas chain, search only, {search_keys} keys", searched, role_search),
        Case("cas chain + 1 lost update", lost_update(rng, chain), role, "invalid"),
        Case("1 key + stale read, search only", one_key, role_search, "invalid"),
    ]


def run(case: Case, repeat: int) -> tuple[str, float]:
    """Median wall time of ``repeat`` checks, and the verdict."""
    times = []
    status = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        status = case.check(case.ops).status
        times.append(time.perf_counter() - t0)
    return status, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run every case and print a table; exit 1 if a verdict is not the one expected."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smoke-test sizes (a few seconds)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cases = build_cases(args.small, args.seed)
    print(f"generated {sum(len(c.ops) for c in cases):,} ops in {time.perf_counter() - t0:.1f}s")
    print(f"{'case':<38} {'ops':>10} {'keys':>8} {'verdict':>8} {'median s':>9} {'ops/s':>11}")
    bad = 0
    for case in cases:
        status, seconds = run(case, args.repeat)
        keys = len({op.key for op in case.ops})
        rate = len(case.ops) / seconds if seconds else float("inf")
        print(f"{case.name:<38} {len(case.ops):>10,} {keys:>8,} {status:>8} {seconds:>9.3f} {rate:>11,.0f}")
        bad += status != case.expect
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
