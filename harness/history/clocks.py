"""Clocks of a history written by shards on several machines (``stress run --executor ray``).

Each shard stamps its events with its own monotonic clock. Before the first race the driver measures
the shard's offset to its own clock with repeated round trips (NTP's idea: the shard read its clock
somewhere between the driver's send and receive, so the best, shortest round trip bounds the offset
to ± half of it), and again after the last race. The merged ``history.jsonl`` is on the driver's time
base (shard time − offset); ``run.json`` keeps each shard's offset and its error bound ε.

Within a shard, order is exact (one monotonic clock). Between shards, a time may be off by up to the
shard's ε, so before the checkers decide real-time order every op of a shard is widened by that ε:
its invoke moved ε earlier, its completion ε later (``widen_ops``). A precedence between two ops then
holds under every clock within the bounds, and a violation the checkers report is not an artefact of
the clocks. The cost: ops closer than ε₁ + ε₂ (2ε within a shard: an interval cannot be exact for some
ops and widened for others) count as concurrent, so a violation that needs a finer order is missed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.history.events import Op


@dataclass(frozen=True)
class ClockEstimate:
    """A shard's clock minus the driver's (``offset_ns``), within ± ``eps_ns``, from ``rounds`` round trips."""

    offset_ns: int
    eps_ns: int
    rtt_ns: int
    rounds: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for run.json (and the milliseconds a reader wants)."""
        return {**dataclasses.asdict(self), "eps_ms": round(self.eps_ns / 1e6, 4)}


def estimate_offset(samples: Iterable[tuple[int, int, int]]) -> ClockEstimate:
    """From (driver send, shard clock, driver receive) samples: the offset of the shortest round trip.

    The shard's reading ``s`` happened at some driver time in [send, receive], so the offset lies in
    [s − receive, s − send]: its midpoint, ± half the round trip.
    """
    samples = list(samples)
    if not samples:
        raise ValueError("no clock samples")
    send, shard, receive = min(samples, key=lambda s: s[2] - s[0])
    rtt = receive - send
    return ClockEstimate(shard - (send + receive) // 2, (rtt + 1) // 2, rtt, len(samples))


def over_run(start: ClockEstimate, end: ClockEstimate | None) -> ClockEstimate:
    """One estimate for the whole run from the ones before and after it: an offset that drifted from one
    to the other stayed between them, so the interval covering both bounds it at every instant."""
    if end is None:
        return start
    low = min(start.offset_ns - start.eps_ns, end.offset_ns - end.eps_ns)
    high = max(start.offset_ns + start.eps_ns, end.offset_ns + end.eps_ns)
    return ClockEstimate((low + high) // 2, (high - low + 1) // 2, min(start.rtt_ns, end.rtt_ns),
                         start.rounds + end.rounds)


def shard_eps(meta: Mapping[str, Any]) -> dict[int, int]:
    """ε (ns) of every shard a run.json names (none for a run on one machine)."""
    return {int(s["shard"]): int(s["clock"]["eps_ns"]) for s in meta.get("shards") or ()
            if isinstance(s, dict) and isinstance(s.get("clock"), dict)}


def widen_ops(ops: Iterable[Op], eps_by_shard: Mapping[int, int]) -> list[Op]:
    """Copies of ``ops`` whose interval is widened by their shard's ε (ops without a shard unchanged).

    For the checkers only: latencies and the summary use the recorded times.
    """
    widened = []
    for op in ops:
        eps = eps_by_shard.get(op.extra.get("shard"), 0) if eps_by_shard else 0
        if eps:
            op = dataclasses.replace(op, invoke_time=op.invoke_time - eps, extra=op.extra,
                                     complete_time=None if op.complete_time is None else op.complete_time + eps)
        widened.append(op)
    return widened
