"""Numbers that describe a workload's history: counts, winners, concurrency, latency."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from harness.checker.detection import detection
from harness.checker.percentiles import percentiles
from harness.checker.verdict import Verdict
from harness.clients.outcome import THROTTLING_CODES
from harness.history.events import INFO, OK, Op

OUTCOMES = ("ok", "conditional_failed", "indeterminate", "error")
READ_FUNCTIONS = frozenset({"read"})


def latency_summary(ops: list[Op]) -> dict[str, Any]:
    """p50/p99 (ms) over all completed ops, and per outcome."""
    def stats(selected: list[Op]) -> dict[str, Any]:
        values = [op.latency_ns / 1e6 for op in selected if op.latency_ns is not None]
        found = percentiles(values, (50, 99))
        return {"p50": _round(found.get("p50")), "p99": _round(found.get("p99")), "max": _round(found.get("max")),
                "count": len(values)}

    overall = stats(ops)
    by_outcome = {name: stats([op for op in ops if op.outcome == name]) for name in OUTCOMES}
    return {"p50": overall["p50"], "p99": overall["p99"], "max": overall["max"],
            "by_outcome": {k: v for k, v in by_outcome.items() if v["count"]}}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def max_in_flight(ops: list[Op]) -> tuple[int, str | None]:
    """Most requests open at one instant on a single key, and that key.

    An op is open from its invoke to its completion; one that never completed stays open.
    """
    events: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for op in ops:
        events[op.key].append((op.invoke_time, 1))
        if op.complete_time is not None:
            events[op.key].append((op.complete_time, -1))
    best, best_key = 0, None
    for key, points in events.items():
        points.sort()  # at equal times completions (-1) sort before invokes (+1)
        level = 0
        for _, delta in points:
            level += delta
            if level > best:
                best, best_key = level, key
    return best, best_key


def largest_race(ops: list[Op]) -> int:
    """Ops in the largest race (one key in one round). A race of W workers should have close to W
    requests in flight together (``max_in_flight``); far fewer means the contention asked for never
    reached the server (``--rate``, a starved client, slow connects)."""
    races: Counter[tuple[str, Any]] = Counter((op.key, op.extra.get("round")) for op in ops)
    return max(races.values(), default=0)


def overlaps(op: Op, spans: list[tuple[int, int]]) -> bool:
    """True when the op was open during one of ``spans`` (monotonic ns); an op never completed stays open."""
    end = op.complete_time if op.complete_time is not None else float("inf")
    return any(op.invoke_time <= stop and end >= start for start, stop in spans)


def winners_per_race(ops: list[Op]) -> dict[tuple[str, Any], int]:
    """Successful writes per race (key and round)."""
    races: dict[tuple[str, Any], int] = {}
    for op in ops:
        if op.f in READ_FUNCTIONS:
            continue
        race = (op.key, op.extra.get("round"))
        races[race] = races.get(race, 0) + (op.type == OK)
    return races


def summarize(name: str, ops: list[Op], verdict: Verdict, *, races_one_item: bool = True,
              down: list[tuple[int, int]] | None = None, sustained: bool = False) -> dict[str, Any]:
    """The per-workload object of verdict.json / `stress run --json`.

    ``races_one_item``: a step races every worker on one item, so winners per race mean something
    (not for batch loads or transactions over groups). ``down``: spans when a crashed server was down.
    ``sustained``: the run had no races (``--pattern sustained``), so nothing is counted per race.
    """
    counts = Counter(op.outcome for op in ops)
    races = {} if sustained else winners_per_race(ops)
    in_flight, hottest = max_in_flight(ops)
    errors = Counter(op.error for op in ops if op.outcome == "error" and op.error)
    unsure = Counter(op.error for op in ops if op.outcome == "indeterminate" and op.error)
    times = [t for op in ops for t in (op.invoke_time, op.complete_time) if t is not None]
    span_s = (max(times) - min(times)) / 1e9 if times else 0.0
    return {
        "name": name,
        "verdict": verdict.status,
        "requests": len(ops),
        "ok": counts["ok"],
        "conditional_failed": counts["conditional_failed"],
        "indeterminate": counts["indeterminate"],
        "errors": counts["error"],
        "error_codes": dict(errors.most_common()),
        "indeterminate_codes": dict(unsure.most_common()),
        "throttled": sum(1 for op in ops if op.error in THROTTLING_CODES),
        "retried": sum(1 for op in ops if op.attempts > 1),
        "retried_indeterminate": sum(1 for op in ops if op.attempts > 1 and op.type == INFO),
        "resolved_by_all_old": sum(1 for op in ops if op.extra.get("raw") and op.type == OK),
        "during_crash": sum(1 for op in ops if overlaps(op, down)) if down else 0,
        "keys": len({op.key for op in ops}),
        "winners_per_race": ({"min": min(races.values(), default=0), "max": max(races.values(), default=0)}
                             if races_one_item and not sustained else None),
        "largest_race": None if sustained else largest_race(ops),
        "max_in_flight": in_flight,
        "max_in_flight_key": hottest,
        "duration_s": round(span_s, 3),
        "ops_per_s": round(len(ops) / span_s, 1) if span_s else None,
        "latency_ms": latency_summary(ops),
        "detection": detection(ops, in_flight, READ_FUNCTIONS, sustained),
        "violations": [v.to_json() for v in verdict.violations],
        "unknowns": verdict.unknowns,
    }
