"""Is the harness the bottleneck? Event-loop lag and client CPU, sampled around a run.

    sampler = SaturationSampler()
    sampler.start()              # inside the running event loop
    ...                          # the run
    report = sampler.stop(ops=n)
    report["note"]               # None, or a plain-English warning for the summary

A callback scheduled every 10 ms records how late it runs (the event loop's lag: while the loop is
busy parsing responses or building requests, every request's latency includes that wait), and the
process's CPU time (all threads, via ``time.process_time``) over the wall time says how much of a
core the client used. When the loop lags or the client burns most of a core, the measured latencies
describe the harness rather than the server, and the report says so.
"""

from __future__ import annotations

import asyncio
import resource
import time
from array import array
from typing import Any

from harness.checker.percentiles import percentile

INTERVAL_S = 0.010
LAG_P99_LIMIT_MS = 50.0
CPU_UTIL_LIMIT = 0.80  # fraction of one core
STARVED_UTIL = 0.50  # lag above the limit at less CPU than this: the process waited for a CPU
MAX_SAMPLES = 1_000_000  # ~2.8 h at 10 ms; later samples only update the maximum


class SaturationSampler:
    """Samples event-loop lag every ``interval_s`` and the process's CPU time between start and stop."""

    def __init__(self, interval_s: float = INTERVAL_S, lag_limit_ms: float = LAG_P99_LIMIT_MS,
                 cpu_limit: float = CPU_UTIL_LIMIT) -> None:
        self.interval_s = interval_s
        self.lag_limit_ms = lag_limit_ms
        self.cpu_limit = cpu_limit
        self._lags_ms = array("d")
        self._max_lag_ms = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._wall0 = 0.0
        self._cpu0 = 0.0
        self._rusage0: resource.struct_rusage | None = None

    def start(self) -> None:
        """Begin sampling; call from inside the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._lags_ms = array("d")
        self._max_lag_ms = 0.0
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._rusage0 = resource.getrusage(resource.RUSAGE_SELF)
        self._schedule()

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = time.perf_counter() + self.interval_s
        self._handle = self._loop.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        lag_ms = max(0.0, (time.perf_counter() - self._due) * 1000.0)
        if len(self._lags_ms) < MAX_SAMPLES:
            self._lags_ms.append(lag_ms)
        self._max_lag_ms = max(self._max_lag_ms, lag_ms)
        self._schedule()

    def stop(self, ops: int) -> dict[str, Any]:
        """Stop sampling; ``ops`` is how many requests the run completed. Returns the report dict."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        wall_s = time.perf_counter() - self._wall0
        cpu_s = time.process_time() - self._cpu0
        end = resource.getrusage(resource.RUSAGE_SELF)
        start = self._rusage0 or end
        report = summarise(self._lags_ms, self._max_lag_ms, wall_s=wall_s, cpu_s=cpu_s, ops=ops)
        report["cpu_user_s"] = round(end.ru_utime - start.ru_utime, 3)
        report["cpu_system_s"] = round(end.ru_stime - start.ru_stime, 3)
        report["max_rss_mb"] = round(end.ru_maxrss / 1024, 1)  # Linux reports KiB
        report["harness_bound"], report["note"] = judge(report, self.lag_limit_ms, self.cpu_limit)
        return report


def summarise(lags_ms: Any, max_lag_ms: float, *, wall_s: float, cpu_s: float, ops: int) -> dict[str, Any]:
    """The numeric part of the report (no verdict)."""
    ordered = sorted(lags_ms)
    return {
        "ops": ops,
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
        "client_cpu_ms_per_op": round(cpu_s * 1000.0 / ops, 4) if ops else None,
        "cpu_util": round(cpu_s / wall_s, 3) if wall_s > 0 else 0.0,
        "loop_lag_ms": {"p50": round(percentile(ordered, 50) or 0.0, 2),
                        "p99": round(percentile(ordered, 99) or 0.0, 2),
                        "max": round(max(max_lag_ms, ordered[-1] if ordered else 0.0), 2)},
        "lag_samples": len(ordered),
    }


def judge(report: dict[str, Any], lag_limit_ms: float = LAG_P99_LIMIT_MS,
          cpu_limit: float = CPU_UTIL_LIMIT) -> tuple[bool, str | None]:
    """(harness_bound, note): bound when loop lag p99 or client CPU exceed their limits.

    High lag at low CPU means the process was waiting for a CPU (other processes on the machine),
    which the note says, since the fix is a quieter machine rather than a faster harness.
    """
    lag_p99 = report["loop_lag_ms"]["p99"]
    util = report["cpu_util"]
    cpu_text = f"client CPU {util * 100:.0f}% of a core"
    lag_text = f"loop lag p99 {lag_p99:.0f} ms"
    tail = " — latencies describe the harness, not the server"
    if util > cpu_limit:
        return True, f"the harness was the bottleneck: {cpu_text}, {lag_text}{tail}"
    if lag_p99 > lag_limit_ms:
        if util < STARVED_UTIL:
            return True, (f"the client was starved of CPU: {lag_text} while the harness used only "
                          f"{util * 100:.0f}% of a core (other processes held the CPU){tail}")
        return True, f"the harness was the bottleneck: {lag_text}, {cpu_text}{tail}"
    return False, None
