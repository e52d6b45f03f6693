"""Keep the cyclic garbage collector's long passes out of the races.

CPython's collector walks every tracked object on a full (generation 2) pass. Before the first race a
run already holds ~80,000 of them (mostly botocore's service model), so each full pass took 60–140 ms
— a stall in which no response is read and no request leaves — and came twice per 8 s at 64 workers;
the young-generation passes (every 700 net allocations) walked the race's prepared requests. Together
7 % of the client's CPU in a race (gc callbacks timed in `benchmarks/bench_throughput.py`'s registration
point, 64 workers, 2026-12-02). A race's objects are acyclic (requests, outcomes, events), freed by
reference counting; the collector has little to find in them.

So while races run, everything alive before them is frozen (``gc.freeze``: never walked until thawed)
and the young generation's threshold is raised; both are undone after the last race. Measured against one
DynamoDB Local, 4 interleaved 4 s registration points per level, medians: client CPU per op 131 → 118 µs at
64 workers and 126 → 115 µs at 200 (at 16: 121 vs 124, within the noise), p99 latency 36 → 26 ms at 64 and
101 → 88 ms at 200.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG_THRESHOLD = 20_000  # net allocations between young passes during races (CPython's default: 700)

_depth = 0  # nested or concurrent runners: only the outermost one freezes and restores
_saved: tuple[int, int, int] = gc.get_threshold()


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Freeze what exists now and collect the young generation less often, until the block ends."""
    global _depth, _saved
    if _depth == 0:
        _saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.set_threshold(*_saved)
            gc.unfreeze()
