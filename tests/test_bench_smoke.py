"""Smoke test: benchmarks/bench_throughput.py --small runs end to end and prints its table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks" / "bench_throughput.py"


def test_small_benchmark_prints_the_table() -> None:
    if not shutil.which("wrk") and not shutil.which("apt-get"):
        pytest.skip("wrk is not installed and apt-get is not available")
    proc = subprocess.run([sys.executable, str(BENCH), "--small"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for heading in ("(a) server capacity", "(b) harness", "(c) one 200-worker race", "(d) checkers", "goals:"):
        assert heading in out, out
    harness_rows = [line for line in out.splitlines() if line.strip().startswith(("sdk ", "prepared "))]
    assert len(harness_rows) >= 6 + 2  # 3 levels x 2 clients, plus the two burst rows
    assert " NO" not in out.split("(c)")[0].split("(b)")[1]  # every race had exactly one winner
