"""Smoke test: benchmarks/bench_throughput.py's --small path runs end to end and prints its table.

The benchmark runs as a script of its own (a subprocess, as `python benchmarks/bench_throughput.py --small`
is typed), with its --small plan made smaller still (``TINY``): a smoke test checks that every section
runs and renders, not the numbers, and --small's 1 s per measurement point (~30 s in all here) buys
nothing for that. Each size --small uses is kept or shrunk, never dropped: 1 worker (the "added
latency" goal) and 64 (>= 16 and >= 64: the sustained and the ratio goals) exercise every branch of the
table and of the goals that the four --small levels do.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks" / "bench_throughput.py"
TINY = {"levels": (1, 64), "seconds": 0.3, "warmup_s": 0.6, "bursts": 1, "check_ops": 10_000}
# Loads the script as a module (its own `if __name__ == "__main__"` stays out), swaps SMALL for TINY's sizes
# and calls its main() with --small, as the command line would.
RUN_TINY = f"""
import dataclasses, importlib.util, sys
spec = importlib.util.spec_from_file_location("bench_throughput", {str(BENCH)!r})
bench = sys.modules["bench_throughput"] = importlib.util.module_from_spec(spec)  # (its dataclasses look it up)
spec.loader.exec_module(bench)
bench.SMALL = dataclasses.replace(bench.SMALL, **{TINY!r})
sys.exit(bench.main(["--small"]))
"""


def test_tiny_sizes_only_shrink_the_small_plan() -> None:
    """TINY is --small made smaller: no measurement gets longer, no part is switched on that --small skips."""
    spec = importlib.util.spec_from_file_location("bench_throughput_plan", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:  # its dataclasses look the module up while it loads
        patch.setitem(sys.modules, spec.name, bench)
        spec.loader.exec_module(bench)
    small = bench.SMALL
    assert set(TINY["levels"]) <= set(small.levels) and {1, 64} <= set(TINY["levels"])
    for name in ("seconds", "warmup_s", "bursts", "check_ops"):
        assert 0 < TINY[name] <= getattr(small, name), name


def test_small_benchmark_prints_the_table() -> None:
    if not shutil.which("wrk") and not shutil.which("apt-get"):
        pytest.skip("wrk is not installed and apt-get is not available")
    proc = subprocess.run([sys.executable, "-c", RUN_TINY], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for heading in ("(a) server capacity", "(b) harness", "(c) one 200-worker race", "(d) checkers", "goals:"):
        assert heading in out, out
    assert "(--small)" in out, out  # the --small path of main()
    harness_rows = [line for line in out.splitlines() if line.strip().startswith(("sdk ", "prepared "))]
    assert len(harness_rows) >= 2 * len(TINY["levels"]) + 2  # levels x 2 clients, plus the two burst rows
    assert " NO" not in out.split("(c)")[0].split("(b)")[1]  # every race had exactly one winner
    if len(os.sched_getaffinity(0)) >= 2:  # (f): the server and the client on cores of their own
        separate = out.split("(f) server on core(s) ")[1].split("goals:")[0].splitlines()
        assert [row.split()[0] for row in separate[2:] if row.strip() and row.split()[0].isdigit()] == ["64"], out
        assert "allows: the server's CPU per request" in out, out  # the cap the server itself sets, explained
        assert re.search(r"server's own CPU per request allows \d+\.\d\dx", out), out
        assert "at 64 workers, server and client on cores of their own" in out, out


def test_wakeups_benchmark_prints_its_rows() -> None:
    """benchmarks/bench_wakeups.py --small: the harness and wrk against the canned server, with and without
    a service time, one row each (the numbers are the benchmark's business, not a test's)."""
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (bench_throughput installs it)")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_wakeups.py"), "--small"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split() for line in proc.stdout.splitlines()[2:]]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("0", "harness", "16"), ("0", "wrk", "16"), ("300", "harness", "16"), ("300", "wrk", "16")], proc.stdout
    assert all(float(row[3]) > 0 and float(row[4]) > 0 for row in rows), proc.stdout
