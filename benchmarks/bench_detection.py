"""Detection power, measured: how often does a run catch a seeded check-then-write bug?

Starts a managed DynamoDB Local and, in front of it, the window fake of tests/window_fake.py: in 1 of N
conditional writes it checks the condition alone, waits W ms, then writes without it (moto's bug, with a
window that does not depend on the CPU). Then, for each workload, it runs `stress run` R times with the
sustained pattern and R times with today's burst races, and prints per cell the catch rate (INVALID runs),
the median contention windows and n_95 the runs reported, and the broken writes the fake performed.

The detection statement checks out when, wherever the observed catch rate is below 95 %, N is above the
reported n_95 (a run only promises to catch bugs breaking at least 1 in n_95 windows).

    python benchmarks/bench_detection.py                                   # N=1000, W=2 ms, 10 runs × 20 s
    python benchmarks/bench_detection.py --one-in 100,1000,10000 --runs 5  # the statement at several N
    python benchmarks/bench_detection.py --small                           # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import local_install
from harness.backends.servers import LocalServer
from tests.window_fake import WindowFakeThread

STRESS = [str(Path(sys.executable).parent / "stress")]
BURST_ARGS = {"role-update": ("--workers", "200", "--keys", "30", "--rounds", "3"),
              "registration": ("--workers", "200", "--keys", "30", "--rounds", "3")}


def one_run(url: str, workload: str, pattern: str, duration: float, reports: Path) -> dict[str, Any]:
    """One `stress run --json` against ``url``: its verdict, windows and n_95."""
    args = ["run", "--workload", workload, "--endpoint-url", url, "--json", "--reports-dir", str(reports)]
    if pattern == "sustained":
        args += ["--pattern", "sustained", "--duration", str(duration)]
    else:
        args += list(BURST_ARGS[workload])
    proc = subprocess.run([*STRESS, *args], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"stress exited {proc.returncode}: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    block = summary["workloads"][0]["detection"]
    return {"verdict": summary["verdict"], "windows": block["windows"], "n_95": block["n_95"],
            "ops_per_s": summary["workloads"][0]["ops_per_s"]}


def main() -> None:
    """Run the grid and print one line per (N, workload, pattern)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-in", default="1000", help="comma-separated N values")
    parser.add_argument("--window-ms", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20.0, help="sustained seconds per run")
    parser.add_argument("--workloads", default="role-update,registration")
    parser.add_argument("--patterns", default="sustained,burst")
    parser.add_argument("--small", action="store_true", help="2 runs of 3 s, N=50 (smoke test)")
    args = parser.parse_args()
    if args.small:
        args.runs, args.duration, args.one_in = 2, 3.0, "50"
    server = LocalServer(local_install.find_jar_home() or local_install.install(), workers=200)
    endpoint = server.start()
    print(f"DynamoDB Local {endpoint.version}; window {args.window_ms:g} ms; {args.runs} runs per cell; "
          f"sustained {args.duration:g} s", flush=True)
    print(f"{'N':>6} {'workload':<13} {'pattern':<9} {'caught':>7} {'windows':>8} {'n_95':>6} {'broken':>7} "
          f"{'ops/s':>6}  statement", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for one_in in (int(n) for n in args.one_in.split(",")):
                for workload in args.workloads.split(","):
                    for pattern in args.patterns.split(","):
                        with WindowFakeThread(endpoint.url, one_in=one_in, window_ms=args.window_ms) as fake:
                            runs = [one_run(fake.url, workload, pattern, args.duration, Path(tmp))
                                    for _ in range(args.runs)]
                            broken = fake.windows
                        caught = sum(r["verdict"] == "invalid" for r in runs)
                        n95 = statistics.median(r["n_95"] for r in runs)
                        rate = caught / len(runs)
                        holds = rate >= 0.95 or one_in > n95
                        print(f"{one_in:>6} {workload:<13} {pattern:<9} {caught:>3}/{len(runs):<3} "
                              f"{statistics.median(r['windows'] for r in runs):>8.0f} {n95:>6.0f} "
                              f"{broken / len(runs):>7.1f} {statistics.median(r['ops_per_s'] or 0 for r in runs):>6.0f}"
                              f"  {'holds' if holds else 'BROKEN: caught < 95 % though N <= n_95'}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
