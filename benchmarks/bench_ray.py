"""The Ray executor's overhead on one machine: `stress run --executor ray --shards 2` vs the in-process executor
on the same managed DynamoDB Local, measured in one run (issue 14's goal: ≥ 0.8× the in-process throughput;
2 cores cannot show scaling, only the cost of the transport).

For each pattern (burst: every race released at T0; sustained: one T0 per round, then free-running loops)
it runs both executors through the `stress` console script, alternating, and prints per run:

* ops/s: a workload's requests over first invoke to last completion in ``history.jsonl``, the same for both;
* start→first request: from launching `stress run` to the first invoke (both clocks are this machine's
  CLOCK_MONOTONIC), and for Ray the part spent connecting, placing and opening the shards (``ready_s``);
* ε: the shards' clock error bounds measured on loopback, and the start skew across shards.

    python benchmarks/bench_ray.py            # about 3 minutes
    python benchmarks/bench_ray.py --repeat 1 # one run of each
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import local_install
from harness.backends.servers import LocalServer
from harness.history.events import pair_ops, read_events

STRESS = [sys.executable, "-m", "harness"]
PATTERNS = {
    "burst": ["--workload", "registration", "--workers", "200", "--keys", "20", "--rounds", "2"],
    "sustained": ["--workload", "registration", "--pattern", "sustained", "--keys", "20", "--duration", "5"],
}
EXECUTORS = {"in-process": [], "ray": ["--executor", "ray", "--shards", "2"]}
GOAL_RATIO = 0.8


def one_run(endpoint: str, pattern: str, executor: str, reports: Path) -> dict[str, Any]:
    """One `stress run`; returns its throughput, start overhead and (Ray) clocks."""
    launched = time.monotonic_ns()
    proc = subprocess.run([*STRESS, "run", *PATTERNS[pattern], *EXECUTORS[executor], "--json", "--seed", "3",
                           "--backend", "endpoint", "--endpoint-url", endpoint, "--reports-dir", str(reports)],
                          capture_output=True, text=True, timeout=600)
    summary = json.loads(proc.stdout)
    run_dir = Path(summary["run_dir"])
    ops = pair_ops(read_events(run_dir / "history.jsonl"))
    first = min(op.invoke_time for op in ops)
    last = max(op.complete_time or op.invoke_time for op in ops)
    meta = json.loads((run_dir / "run.json").read_text())
    row = {"pattern": pattern, "executor": executor, "verdict": summary["verdict"], "ops": len(ops),
           "ops_s": len(ops) / ((last - first) / 1e9), "first_request_s": (first - launched) / 1e9}
    if executor == "ray":
        row["ready_s"] = meta["ray"]["ready_s"]
        row["eps_ms"] = [s["clock"]["eps_ns"] / 1e6 for s in meta["shards"]]
        row["skew_ms"] = meta["ray"]["bursts"]["start_skew_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each executor per pattern (alternating)")
    args = parser.parse_args()
    server = LocalServer(local_install.find_jar_home() or local_install.install())
    endpoint = server.start()
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as reports:
            # one unmeasured run first: a fresh JVM is ~2x slower for its first seconds
            one_run(endpoint.url, "burst", "in-process", Path(reports))
            for pattern in PATTERNS:
                for _ in range(args.repeat):
                    for executor in EXECUTORS:
                        rows.append(one_run(endpoint.url, pattern, executor, Path(reports)))
                        print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        server.stop()
    print(f"{'pattern':10} {'executor':11} {'ops/s':>8} {'start→1st req s':>16} {'ray ready s':>12}  ε ms per shard, "
          "start skew p50/p99 ms")
    for row in rows:
        ray = (f"{row['ready_s']:>12.2f}  {', '.join(f'{e:.3f}' for e in row['eps_ms'])}; "
               f"{row['skew_ms']['p50']}/{row['skew_ms']['p99']}") if row["executor"] == "ray" else ""
        print(f"{row['pattern']:10} {row['executor']:11} {row['ops_s']:>8.0f} {row['first_request_s']:>16.2f} {ray}"
              f"{'' if row['verdict'] == 'valid' else '  ' + row['verdict'].upper()}")
    print("goals:")
    for pattern in PATTERNS:
        medians = {ex: statistics.median(r["ops_s"] for r in rows if r["pattern"] == pattern and r["executor"] == ex)
                   for ex in EXECUTORS}
        ratio = medians["ray"] / medians["in-process"]
        print(f"  {pattern}: ray/in-process throughput {ratio:.2f} (goal ≥ {GOAL_RATIO}): "
              f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}")
    starts = {ex: statistics.median(r["first_request_s"] for r in rows if r["executor"] == ex) for ex in EXECUTORS}
    print(f"  start→first request: ray {starts['ray']:.1f} s vs in-process {starts['in-process']:.1f} s "
          f"(+{starts['ray'] - starts['in-process']:.1f} s)")


if __name__ == "__main__":
    main()
