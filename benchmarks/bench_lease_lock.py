"""lease-lock's verdicts, measured: how often is `--unsafe` caught, and does the safe lock stay VALID?

Starts a managed DynamoDB Local and runs `stress run --workload lease-lock --json` R times per setting: the
naive read-then-write (`--unsafe`) in both patterns, and the safe lock, also under lost responses and SDK
retries (its indeterminate ops must not raise a false alarm), and the safe lock against a server with a seeded
check-then-write bug (tests/window_fake.py: 1 conditional write in N checked alone, then written 5 ms later
without its condition). Prints per setting the verdicts, how many runs reported overlapping holders, and the
median requests and contention windows.

    python benchmarks/bench_lease_lock.py              # 10 runs per setting
    python benchmarks/bench_lease_lock.py --runs 3     # a quicker look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import local_install
from harness.backends.servers import LocalServer
from tests.window_fake import WindowFakeThread

STRESS = [str(Path(sys.executable).parent / "stress")]
SUSTAINED = ("--pattern", "sustained", "--duration", "3", "--keys", "2")  # what tests/test_lease_lock.py runs
SETTINGS: dict[str, tuple[str, ...]] = {
    "unsafe sustained 3 s × 2 keys": (*SUSTAINED, "--unsafe"),
    "unsafe sustained 1 s × 1 key": ("--pattern", "sustained", "--duration", "1", "--keys", "1", "--unsafe"),
    "unsafe burst 20 workers × 2 keys": ("--workers", "20", "--keys", "2", "--rounds", "1", "--unsafe"),
    "safe sustained 3 s × 2 keys": SUSTAINED,
    "safe sustained, lost-ack:0.05 --retries 2": (*SUSTAINED, "--fault", "lost-ack:0.05", "--retries", "2"),
    "safe burst 50 workers × 5 keys, lost-ack:0.05": ("--workers", "50", "--keys", "5", "--fault", "lost-ack:0.05"),
}
SEEDED_ONE_IN = (5, 20)  # the seeded server bug's N; 5 is what tests/test_lease_lock.py runs
SEEDED = ("--pattern", "sustained", "--duration", "3", "--keys", "3")


def one_run(url: str, args: tuple[str, ...], reports: Path) -> dict[str, Any]:
    """One `stress run --json`: its verdict, violation kinds, requests and windows."""
    command = [*STRESS, "run", "--workload", "lease-lock", *args, "--endpoint-url", url, "--json",
               "--reports-dir", str(reports)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"stress exited {proc.returncode}: {proc.stderr[-2000:]}")
    w = json.loads(proc.stdout)["workloads"][0]
    return {"verdict": w["verdict"], "kinds": {v["kind"] for v in w["violations"]}, "requests": w["requests"],
            "windows": w["detection"]["windows"]}


def report(label: str, results: list[dict[str, Any]]) -> None:
    """One line: the verdicts, the runs with overlapping holders, the median requests and windows."""
    verdicts = Counter(r["verdict"] for r in results)
    overlapping = sum("overlapping-holders" in r["kinds"] for r in results)
    print(f"{label}: {dict(verdicts)}; overlapping holders in {overlapping}/{len(results)}; median "
          f"{statistics.median(r['requests'] for r in results):.0f} requests, "
          f"{statistics.median(r['windows'] for r in results):.0f} windows", flush=True)


def main() -> None:
    """Run every setting ``--runs`` times and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    server = LocalServer(local_install.find_jar_home() or local_install.install())
    endpoint = server.start()
    try:
        with tempfile.TemporaryDirectory() as reports:
            for label, args in SETTINGS.items():
                report(label, [one_run(endpoint.url, args, Path(reports)) for _ in range(runs)])
            for one_in in SEEDED_ONE_IN:
                results = []
                for _ in range(runs):
                    with WindowFakeThread(endpoint.url, one_in=one_in, window_ms=5) as fake:
                        results.append(one_run(fake.url, SEEDED, Path(reports)))
                report(f"safe sustained 3 s × 3 keys, server checks then writes 1 in {one_in}", results)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
