"""Numbers the report computes from ops: outcome counts, latencies, winners per race (percentiles come
from harness.checker.percentiles)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checker.summary import READ_FUNCTIONS, winners_per_race
from harness.history.events import Op
from harness.report.style import OUTCOMES


def outcome_counts(ops: Iterable[Op]) -> dict[str, int]:
    """How many ops ended with each outcome (every outcome present, zero if none)."""
    counts = Counter(op.outcome for op in ops)
    return {name: counts.get(name, 0) for name in OUTCOMES}


def latency_ms(ops: Iterable[Op]) -> list[float]:
    """Latencies in ms of the ops that completed."""
    return [op.latency_ns / 1e6 for op in ops if op.latency_ns is not None]


def is_write(op: Op) -> bool:
    """True for ops that try to change the item (everything except reads)."""
    return op.f not in READ_FUNCTIONS


def winners(ops: Iterable[Op]) -> list[Op]:
    """Writes that were applied (``ok``)."""
    return [op for op in ops if op.type == "ok" and is_write(op)]


def race_id(op: Op) -> tuple[str, Any]:
    """One race = one key in one round (``round`` is None when the history has no rounds)."""
    return op.key, op.extra.get("round")


def max_winners_per_key(ops: Iterable[Op]) -> dict[str, int]:
    """The most applied writes any single race on a key had (1 is correct)."""
    result: dict[str, int] = {}
    for (key, _round), count in winners_per_race(ops).items():
        result[key] = max(result.get(key, 0), count)
    return result


# Workloads whose steps are not races of every worker on one item (a batch load's or a transaction's
# ops cover many items), so "winners per race" means nothing for them. Only needed for verdicts
# written before the summary said so itself with ``"winners_per_race": null``.
NO_RACE_WORKLOADS = frozenset({"batch-load", "batch-load-tx", "unique-email"})


def has_races(name: str, summary: dict[str, Any]) -> bool:
    """Whether the ops of workload ``name`` are races on one item, so that winners per race mean something."""
    return name not in NO_RACE_WORKLOADS and not ("winners_per_race" in summary and summary["winners_per_race"] is None)


def winners_range(name: str, summary: dict[str, Any], ops: Iterable[Op]) -> tuple[int, int] | None:
    """(fewest, most) applied writes in one race of workload ``name``; None when that means nothing.

    Read from the verdict's ``winners_per_race`` (``null``: not applicable), else from the older
    ``winners_per_key``, else computed from ``ops``.
    """
    if not has_races(name, summary):
        return None
    found = summary.get("winners_per_race") or summary.get("winners_per_key")
    if isinstance(found, dict) and isinstance(found.get("min"), int) and isinstance(found.get("max"), int):
        return found["min"], found["max"]
    per_race = winners_per_race(ops)
    return (min(per_race.values()), max(per_race.values())) if per_race else None
