"""Detection power: what a run could have caught, measured from its history.

A race-condition bug in a server's conditional writes (moto's check-then-write, say) can only show
where a conditional write succeeded while another conditional write on the same key was in flight:
a **contention window**. A burst race of 200 workers is one window (one winner, 199 contenders); a
sustained loop of a few workers per key makes one per successful write.

If the bug breaks each window independently with probability 1/N, a run with W windows misses it with
probability (1 - 1/N)^W ≤ e^(-W/N). That is at most 5 % when W/N ≥ ln 20 ≈ 3.0, so the run catches
such a bug with ≥ 95 % probability for every N ≤ W / ln 20 — ``n_95``. A bug rarer than 1 in ``n_95``
windows may have gone unseen: a VALID verdict says nothing about it. Too few windows for even a common
bug (``n_95`` below ``WEAK_N_95``) is said in the verdict's notes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import Any

from harness.history.events import OK, Op

LN_20 = math.log(20)  # -ln(0.05): the 95 % bound
WEAK_N_95 = 10  # below this, the run could miss a bug that breaks 1 window in 10
# The values of `--pattern`, named here because the checker sits below the workloads (docs/design.md's layers).
BURST, SUSTAINED = "burst", "sustained"


def contention_windows(ops: list[Op], reads: frozenset[str] = frozenset({"read"})) -> int:
    """Successful writes with at least one other write on the same key in flight over an overlapping
    interval (an op that never completed is in flight from its invoke on)."""
    by_key: dict[Any, list[Op]] = defaultdict(list)
    for op in ops:
        if op.f not in reads:
            by_key[op.key].append(op)
    windows = 0
    for writes in by_key.values():
        invokes = sorted(op.invoke_time for op in writes)
        completes = sorted(math.inf if op.complete_time is None else op.complete_time for op in writes)
        for op in writes:
            if op.type != OK or op.complete_time is None:
                continue
            # Ops that overlap [invoke, complete]: all but those invoked at or after its completion and those
            # completed at or before its invoke (the two sets are disjoint); minus the op itself.
            later = len(invokes) - bisect_left(invokes, op.complete_time)
            earlier = bisect_right(completes, op.invoke_time)
            windows += len(writes) - later - earlier - 1 > 0
    return windows


def n_95(windows: int) -> int:
    """The largest N such that a bug breaking 1 in N windows is caught with ≥ 95 % probability."""
    return int(windows / LN_20)


def detection(ops: list[Op], max_in_flight: int, reads: frozenset[str] = frozenset({"read"}),
              sustained: bool = False) -> dict[str, Any]:
    """The ``detection`` block of one workload's summary; ``pattern`` says what made its windows, so that a
    weak one is told what makes more."""
    windows = contention_windows(ops, reads)
    bound = n_95(windows)
    return {"windows": windows, "max_in_flight": max_in_flight, "n_95": bound, "weak": bound < WEAK_N_95,
            "pattern": SUSTAINED if sustained else BURST}


def combined(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The detection block of several runs of one workload (`stress run --repeat N`): the bug had every window of
    every run to show in, each run's windows independent of the others', so the bound is that of their sum."""
    windows = sum(block["windows"] for block in blocks)
    bound = n_95(windows)
    patterns = {block.get("pattern") for block in blocks}
    return {"windows": windows, "max_in_flight": max((block["max_in_flight"] for block in blocks), default=0),
            "n_95": bound, "weak": bound < WEAK_N_95, "pattern": patterns.pop() if len(patterns) == 1 else None,
            "runs": len(blocks)}


def weak_valid(verdict: str, block: dict[str, Any] | None) -> bool:
    """A VALID verdict from too few contention windows to mean much (said as "weak" wherever it is shown)."""
    return verdict == "valid" and bool((block or {}).get("weak"))


def detection_words(block: dict[str, Any]) -> str:
    """One line for the terminal and the report."""
    if not block["windows"]:
        return "no contention windows: no successful write had a contender, so no race bug could show"
    line = (f"{block['windows']} contention windows: a bug that breaks 1 in N of them is caught with ≥ 95 % "
            f"probability for N ≤ {block['n_95']}")
    if block["weak"]:  # a sustained run makes a window per successful write: only a longer one makes more
        more = "a longer --duration" if block.get("pattern") == SUSTAINED else "--pattern sustained"
        line += f" — too few for a meaningful statement (try {more})"
    return line
