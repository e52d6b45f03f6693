"""Benchmark `stress check-history` and the cost of shrinking counterexamples, on etcd-style histories.

Two measurements, on histories generated like Jepsen's etcd test (tests/jepsen_histories.py: 5 processes,
values 0-4, read/write/cas, ~10 % timeouts):

1. decision vs total: for invalid 90-op histories, the time of the search that decides the verdict and of the
   whole check (decision + shrinking the counterexample to a minimal one); the medians and the ratio of the
   sums are printed (CPU time, best of ``--repeat``, so other load on the machine counts little);
2. the command itself: ``--files`` histories (half of them small enough for a brute-force reference, half
   90-op ones, half of each with a seeded anomaly) written as EDN and JSON and checked by one
   ``stress check-history`` call; its wall time is printed, and its verdicts are compared with the brute
   force on the small ones (exit 1 on any difference);
3. with ``--knossos DIR`` (a checkout of https://github.com/jepsen-io/knossos), Knossos's own test data:
   ``stress check-history --initial 0`` on every file of ``data/cas-register/good`` and ``bad``, as Knossos's
   ``test-examples`` checks them with ``(cas-register 0)``, and ``--model mutex`` on ``data/mutex``; each
   verdict must be the one the folder names (exit 1 otherwise), and for the bad ones decision vs total is
   timed as in 1;
4. with ``--txn``, transactions at scale (``--model multi-register``): ``--histories`` generated histories
   (tests/jepsen_histories.py's ``txn_history``: one to three reads and writes of values 0-2, ~10 % timeouts,
   every other one with one ok read changed) of each size of 200, 500 and 1,000 ops over 2 and over 5
   registers, each checked as the command checks it with ``--time-limit`` seconds: how many were decided,
   the median and the slowest check of those, and whether every counterexample was minimal (exit 1 if not).

    python benchmarks/bench_check_history.py             # 100 invalid histories, 100 files
    python benchmarks/bench_check_history.py --small     # a few seconds
    python benchmarks/bench_check_history.py --knossos ../knossos
    python benchmarks/bench_check_history.py --txn --histories 10
"""

from __future__ import annotations

import argparse
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.checker.linearizability import check_linearizable, get_model, partition
from harness.checker.linearizability.search import Budget, search
from harness.history.events import HistoryError
from harness.history.jepsen import parse_history
from tests.jepsen_histories import brute_force, etcd_history, to_edn, to_json, txn_history

STRESS = Path(sys.executable).parent / "stress"
LINE = re.compile(r"^(\S+): (VALID|INVALID|UNKNOWN) \(")


def _cpu(fn, repeat: int) -> tuple[float, object]:
    """Best CPU time of ``repeat`` calls of ``fn`` (seconds), and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t0)
    return best, result


def decide(ops: list, initial: object = None, model_name: str = "cas-register") -> str:
    """The verdict of the search alone (no counterexample), key by key."""
    model = get_model(model_name)
    start = model.init(initial)
    statuses = [search(sorted(calls, key=lambda c: c.invoke), model, start, Budget(time.monotonic() + 60, None))[0]
                for calls in partition(ops, model).values()]
    return "invalid" if "invalid" in statuses else "valid"


def shrink_cost(n: int, seed: int, repeat: int) -> None:
    """Decision vs total time on ``n`` invalid 90-op histories."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        ops = parse_history(to_json(etcd_history(rng, 90, corrupt=True)), "h.json").checked("unknown")
        if decide(ops) != "invalid":
            continue
        d, _ = _cpu(lambda ops=ops: decide(ops), repeat)
        t, verdict = _cpu(lambda ops=ops: check_linearizable(ops), repeat)
        (violation,) = verdict.violations
        rows.append((d, t, len(violation.ops), violation.details.get("minimal", True),
                     violation.details.get("searches", 0), violation.details.get("shrunk_by", "?")))
    decisions, totals = [r[0] for r in rows], [r[1] for r in rows]
    ratios = [t / d for d, t, *_ in rows]
    ways = {w: [t / d for d, t, *_, way in rows if way == w] for w in sorted({r[5] for r in rows})}
    print(f"{n} invalid 90-op histories: decision median {statistics.median(decisions) * 1e3:.2f} ms, "
          f"total (decision + minimal counterexample) median {statistics.median(totals) * 1e3:.2f} ms; "
          f"total/decision: sum {sum(totals) / sum(decisions):.1f}x, median {statistics.median(ratios):.1f}x, "
          f"p75 {statistics.quantiles(ratios, n=4)[-1]:.1f}x, p90 {statistics.quantiles(ratios, n=10)[-1]:.1f}x, "
          f"{sum(r <= 5 for r in ratios)} of {n} at most 5x; counterexample ops median "
          f"{statistics.median(r[2] for r in rows)}, mean {statistics.mean(r[2] for r in rows):.2f}, all minimal: "
          f"{all(r[3] for r in rows)}; shrinking searches per counterexample mean "
          f"{statistics.mean(r[4] for r in rows):.1f}")
    print("  by the way the shrinker took: " + "; ".join(
        f"{w} {len(v)} (median {statistics.median(v):.1f}x)" for w, v in ways.items()))


def command(n_files: int, seed: int) -> int:
    """One `stress check-history` call on ``n_files`` files; 1 if a verdict differs from the brute force."""
    rng = random.Random(seed)
    expected: dict[str, str | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n_files):
            small = i % 2 == 0
            events = etcd_history(rng, rng.randrange(4, 12) if small else 90, keys=1 + (i % 8 == 7),
                                  corrupt=i % 4 >= 2)
            path = Path(tmp) / f"h{i:03d}.{'json' if i % 3 == 0 else 'edn'}"
            path.write_text(to_json(events) if i % 3 == 0 else to_edn(events, ("lines", "vector")[i % 2]))
            expected[str(path)] = brute_force(events) if small else None
        t0 = time.perf_counter()
        proc = subprocess.run([str(STRESS), "check-history", *expected], capture_output=True, text=True)
        wall = time.perf_counter() - t0
    got = {m[1]: m[2].lower() for m in map(LINE.match, proc.stdout.splitlines()) if m}
    small = {f: v for f, v in expected.items() if v is not None}
    wrong = [f for f, v in small.items() if got.get(f) != v]
    counts = {v: list(got.values()).count(v) for v in ("valid", "invalid", "unknown")}
    print(f"stress check-history on {n_files} files: {wall:.2f} s wall (exit {proc.returncode}); verdicts {counts}; "
          f"{len(small) - len(wrong)}/{len(small)} small ones equal to the brute force")
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    return 1 if wrong or len(got) != n_files else 0


# Knossos's data folders and how its tests check each: test-examples with (cas-register 0) and (mutex),
# linear_test's multi-register-test with (multi-register {:x 0 :y 0}).
KNOSSOS_MODELS = {"cas-register": ("cas-register", 0, ["--initial", "0"]), "mutex": ("mutex", None, []),
                  "multi-register": ("multi-register", {"x": 0, "y": 0}, ["--initial", '{"x": 0, "y": 0}'])}


def _readable(path: Path) -> list | None:
    """The ops of ``path``, or None when `stress check-history` cannot read it either (it said why)."""
    try:
        return parse_history(path.read_text(), str(path)).checked("unknown")
    except HistoryError:
        return None


def knossos(root: Path, repeat: int) -> int:
    """Knossos's test histories through `stress check-history`; 1 if a verdict is not the one its folder names."""
    wrong_any, seen = False, 0
    for folder, (model, initial, options) in KNOSSOS_MODELS.items():
        files = {path: expected for expected, sub in (("valid", "good"), ("invalid", "bad"))
                 for path in sorted((root / "data" / folder / sub).glob("*.edn"))}
        if not files:
            continue
        seen += len(files)
        t0 = time.perf_counter()
        proc = subprocess.run([str(STRESS), "check-history", "--model", model, *options, *map(str, files)],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        got = {m[1]: m[2].lower() for m in map(LINE.match, proc.stdout.splitlines()) if m}
        wrong = [f"{path.parent.name}/{path.name}: {got.get(str(path), 'no verdict')}"
                 for path, expected in files.items() if got.get(str(path)) != expected]
        wrong_any |= bool(wrong)
        histories = {path: _readable(path) for path in files}
        sizes = [len(ops) for ops in histories.values() if ops is not None] or [0]
        print(f"Knossos's data/{folder} ({len(files)} file{'s' * (len(files) != 1)}, {min(sizes)}-{max(sizes)} ops, "
              f"{shlex.join(['--model', model, *options])}): {len(files) - len(wrong)}/{len(files)} verdicts as the "
              "folder names them, "
              f"{wall:.2f} s wall for one call (exit {proc.returncode}, its worst verdict)"
              + "".join(f"\n  wrong: {w}" for w in wrong))
        for path, ops in histories.items():
            if files[path] == "invalid" and ops is not None:
                d, _ = _cpu(lambda ops=ops, m=model, i=initial: decide(ops, i, m), repeat)
                t, verdict = _cpu(lambda ops=ops, m=model, i=initial: check_linearizable(ops, m, i), repeat)
                (violation,) = verdict.violations
                print(f"  bad/{path.name}: {len(ops)} ops, decision {d * 1e3:.2f} ms, total {t * 1e3:.2f} ms "
                      f"({t / d:.1f}x), counterexample {len(violation.ops)} ops")
    if not seen:
        print(f"--knossos: no data/cas-register, data/mutex or data/multi-register good or bad *.edn under {root}",
              file=sys.stderr)
        return 2
    return 1 if wrong_any else 0


def transactions(n: int, sizes: tuple[int, ...], registers: tuple[int, ...], time_limit: float) -> int:
    """``n`` txn histories per size and number of registers, checked as `stress check-history --model
    multi-register` checks them; 1 if a counterexample is not minimal."""
    not_minimal = 0
    for n_ops in sizes:
        for n_registers in registers:
            names = tuple("xyzuvw"[:n_registers])
            initial = dict.fromkeys(names, 0)
            got: dict[str, list[float]] = {"valid": [], "invalid": [], "unknown": []}
            for seed in range(n):
                events = txn_history(random.Random(seed), n_ops, registers=names, corrupt=seed % 2 == 1)
                ops = parse_history(to_edn(events), "h.edn").checked("unknown")
                t0 = time.perf_counter()
                verdict = check_linearizable(ops, "multi-register", initial, time_limit)
                got[verdict.status].append(time.perf_counter() - t0)
                not_minimal += sum(v.details.get("minimal", True) is not True for v in verdict.violations)
            decided = sorted(got["valid"] + got["invalid"])
            print(f"{n_ops}-op txn histories over {n_registers} registers: {len(decided)}/{n} decided in "
                  f"{time_limit:g} s each ({len(got['valid'])} valid, {len(got['invalid'])} invalid, "
                  f"{len(got['unknown'])} unknown); decided in median {statistics.median(decided or [0]) * 1e3:.0f} "
                  f"ms, slowest {max(decided or [0]) * 1e3:.0f} ms")
    print(f"counterexamples not minimal: {not_minimal}")
    return 1 if not_minimal else 0


def main(argv: list[str] | None = None) -> int:
    """Run the measurements; exit 1 if a verdict differs from the brute force or from Knossos's data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few seconds")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="timings per history (best kept)")
    parser.add_argument("--histories", type=int, default=100, help="invalid 90-op histories timed")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--knossos", type=Path, metavar="DIR", help="a checkout of jepsen-io/knossos: check its data")
    parser.add_argument("--txn", action="store_true", help="transaction histories of 200-1,000 ops instead")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per history, with --txn")
    args = parser.parse_args(argv)
    if args.knossos:
        return knossos(args.knossos, args.repeat)
    if args.txn:
        return transactions(2 if args.small else args.histories, (200,) if args.small else (200, 500, 1000),
                            (2,) if args.small else (2, 5), args.time_limit)
    shrink_cost(5 if args.small else args.histories, args.seed, 1 if args.small else args.repeat)
    return command(10 if args.small else args.files, args.seed)


if __name__ == "__main__":
    sys.exit(main())
