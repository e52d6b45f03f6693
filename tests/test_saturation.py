"""The saturation sampler (harness/engine/saturation.py): loop lag, client CPU, and the bottleneck note."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.checker.percentiles import percentile
from harness.engine.saturation import SaturationSampler, judge, summarise


async def test_idle_loop_is_not_the_bottleneck() -> None:
    sampler = SaturationSampler()
    sampler.start()
    await asyncio.sleep(0.2)
    report = sampler.stop(ops=100)
    assert report["lag_samples"] >= 5
    assert report["loop_lag_ms"]["p50"] < 20  # generous: other processes share the machine
    assert report["cpu_util"] < 0.5
    assert report["client_cpu_ms_per_op"] is not None
    assert set(report) >= {"client_cpu_ms_per_op", "cpu_util", "loop_lag_ms", "harness_bound", "note"}


async def test_blocked_loop_is_reported() -> None:
    sampler = SaturationSampler()
    sampler.start()
    for _ in range(3):
        await asyncio.sleep(0.02)
        deadline = time.perf_counter() + 0.12
        while time.perf_counter() < deadline:  # burn CPU with the loop blocked
            pass
    report = sampler.stop(ops=10)
    assert report["loop_lag_ms"]["max"] >= 80
    assert report["harness_bound"] is True
    assert report["note"].startswith(("the harness was the bottleneck: ", "the client was starved of CPU: "))
    assert "latencies describe the harness, not the server" in report["note"]


def test_judge_names_both_numbers() -> None:
    report = summarise([1.0] * 98 + [120.0, 130.0], 130.0, wall_s=1.0, cpu_s=0.94, ops=1000)
    bound, note = judge(report)
    assert bound
    assert note == ("the harness was the bottleneck: client CPU 94% of a core, loop lag p99 120 ms — "
                    "latencies describe the harness, not the server")
    assert report["client_cpu_ms_per_op"] == 0.94
    starved = summarise([1.0] * 98 + [120.0, 130.0], 130.0, wall_s=1.0, cpu_s=0.16, ops=1000)
    bound, note = judge(starved)
    assert bound and note.startswith("the client was starved of CPU: loop lag p99 120 ms while the harness used "
                                     "only 16% of a core")
    busy = summarise([1.0] * 98 + [120.0, 130.0], 130.0, wall_s=1.0, cpu_s=0.6, ops=1000)
    assert judge(busy)[1].startswith("the harness was the bottleneck: loop lag p99 120 ms, client CPU 60%")
    quiet = summarise([1.0] * 100, 1.0, wall_s=1.0, cpu_s=0.2, ops=1000)
    assert judge(quiet) == (False, None)


def test_percentile_is_hdrhistograms() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50, rel=1e-3)  # HdrHistogram, 3 significant digits
    assert percentile(values, 99) == pytest.approx(99, rel=1e-3)
    assert percentile([], 99) is None
    assert summarise([], 0.0, wall_s=0.0, cpu_s=0.0, ops=0)["client_cpu_ms_per_op"] is None
