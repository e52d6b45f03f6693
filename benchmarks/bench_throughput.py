"""Throughput benchmark: does the harness measure the server, or itself?

Starts a managed DynamoDB Local on 127.0.0.1, warms it up, and prints one table measured in one run:

(a) server capacity with ``wrk`` (PutItem with unique keys: unconditional, conditional, and the
    registration race mix) at 16/64/200 connections;
(b) the harness (the real runner + registration workload + history writer) at 16/64/200 workers with
    ``--client sdk`` and ``--client prepared``, and the sustained pattern (prepared): ops/s, ratio to wrk's
    race mix at the same concurrency, client CPU per op, latency p50/p99, event-loop lag p99, the server's
    CPU per op, and the ratio that the CPU per request alone allows;
(c) burst tightness of one 200-worker race on one key: first-to-last socket write and max in flight;
(d) checker speed on synthetic 1M-op registration and role-update (CAS) histories;
(e) `stress run --workers 200` end to end, as a user types it (its own DynamoDB Local);
(f) the race mix and the sustained pattern again with the server on its own core(s) and the client (harness
    or wrk) on another: whether the harness keeps a server as busy as wrk does when the two do not compete
    for the same cores (on a 2-core machine, (b) mostly measures what the client's CPU takes from the server),
    and the ratio the server's own CPU per request allows there (its core saturated, that is the cap);

then the goals met or missed. Measurements are interleaved (wrk, sdk, prepared at each level, repeated)
and medians are quoted, because other processes share the machine.

    python benchmarks/bench_throughput.py            # full (about 5 minutes)
    python benchmarks/bench_throughput.py --small    # smoke test (well under a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends import local_install
from harness.backends.endpoint import Endpoint
from harness.backends.servers import LocalServer
from harness.checker.verdict import VALID
from harness.clients.choose import make_client
from harness.clients.sdk import DynamoClient
from harness.engine.runner import Pace, StepRunner, create_table, delete_table, event_loop_factory, table_name
from harness.engine.saturation import SaturationSampler
from harness.history.events import CONDITIONAL_FAILED, FAIL, OK, HistoryWriter, Op, pair_ops, read_events
from workloads.base import SUSTAINED, Step, WorkloadConfig
from workloads.registration import Registration
from workloads.role_update import RoleUpdate

LUA = Path(__file__).resolve().parent / "wrk_putitem.lua"
CLIENTS = ("sdk", "prepared")
SUSTAINED_ROW = "sustained"  # prepared client, --pattern sustained registration
SEPARATE_PAIRS = (("prepared", "race"), (SUSTAINED_ROW, "cond"))  # (f): each harness row against its wrk mix
GOAL_RATIO = 0.85  # issue 11: the burst pattern at 16, 64 and 200 workers
GOAL_SUSTAINED_RATIO = 0.9
GOAL_CPU_MS = 0.3
GOAL_BURST_MS = 5.0
GOAL_IN_FLIGHT = 190
GOAL_CHECK_S = 10.0
GOAL_CHECK_OPS = 1_000_000
GOAL_ADDED_MS = 0.5  # harness p50 over wrk's at 1 worker / 1 connection
GOAL_END_TO_END_S = 15.0


@dataclass(frozen=True)
class Plan:
    """How long and how often each part runs."""

    levels: tuple[int, ...]
    reps: int  # interleaved repetitions per level (medians are quoted)
    seconds: float  # per wrk / harness measurement
    warmup_s: float
    context_s: float  # wrk put (once per level) and cond (every repetition) context rows; 0 skips them
    bursts: int
    check_ops: int
    wrk_threads: int = 2
    point_timeout_s: float = 60.0
    warm_harness: bool = True  # also warm up through both clients (skipped by --small)
    end_to_end: bool = True  # time `stress run --workers 200` as a user types it (skipped by --small)


FULL = Plan(levels=(1, 16, 64, 200), reps=3, seconds=3.0, warmup_s=8.0, context_s=3.0, bursts=7,
            check_ops=GOAL_CHECK_OPS)
SMALL = Plan(levels=(1, 16, 64, 200), reps=1, seconds=1.0, warmup_s=2.0, context_s=0.0, bursts=2,
             check_ops=100_000, point_timeout_s=30.0, warm_harness=False, end_to_end=False)


# --------------------------------------------------------------------------- (a) wrk


@dataclass
class WrkResult:
    """One wrk measurement."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    requests: int
    cpu_us: float = float("nan")  # wrk's own CPU per request
    server_us: float = float("nan")  # DynamoDB Local's CPU per request


def ensure_wrk() -> str:
    """The wrk binary, installed with apt-get (Debian package ``wrk``) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True, timeout=300)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required (apt-get install -y wrk)")
    return found


def run_wrk(wrk: str, url: str, table: str, mode: str, connections: int, seconds: float, group: int,
            threads: int, cores: set[int] | None = None) -> WrkResult:
    """Run wrk once against 127.0.0.1 (on ``cores`` if given) and parse the WRKJSON line of the Lua script."""
    prefix = f"{mode}{connections}x{time.monotonic_ns() % 10**9}"
    argv = [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(LUA), url, "--", table, mode, str(group), prefix]
    pin = None if cores is None else (lambda: os.sched_setaffinity(0, cores))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False, preexec_fn=pin)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {proc.stdout[-300:]} {proc.stderr[-300:]}")
    data = json.loads(line[len("WRKJSON "):])
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return WrkResult(data["requests"] / (data["duration_us"] / 1e6), data["p50_us"] / 1000,
                     data["p99_us"] / 1000, data["non2xx"], errors, data["requests"])


def signature_checked(url: str, table: str) -> bool:
    """True when DynamoDB Local rejects a PutItem whose SigV4 signature is garbage."""
    body = json.dumps({"TableName": table, "Item": {"Username": {"S": "signature-probe"}}}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=ddbstress/20240101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status >= 300
    except urllib.error.HTTPError:
        return True


# --------------------------------------------------------------------------- (b) harness


@dataclass
class HarnessResult:
    """One harness measurement (the real runner and workload)."""

    ops: int
    rps: float
    cpu_us_per_op: float
    cpu_util: float
    p50_ms: float
    p99_ms: float
    lag_p99_ms: float
    winners_ok: bool
    prepare_share: float = 0.0  # fraction of the wall time spent in client.prepare (before the gun)
    server_us: float = float("nan")  # DynamoDB Local's CPU per op
    outcomes: dict[str, int] = field(default_factory=dict)


def _registration(workers: int, steps: int, run_id: str) -> Registration:
    config = WorkloadConfig(workers=workers, keys=steps, rounds=1, seed=1, run_id=run_id)
    return Registration(config, table_name(run_id, Registration.name))


async def harness_point(endpoint: Endpoint, kind: str, workers: int, seconds: float, tmp: Path) -> HarnessResult:
    """Registration races for ``seconds`` with ``workers`` workers through the ``kind`` client."""
    run_id = f"bench-{kind}-{workers}-{time.monotonic_ns() % 10**9}"
    workload = _registration(workers, max(10, math.ceil(seconds * 20_000 / workers)), run_id)
    path = tmp / f"{run_id}.jsonl"
    async with make_client(kind, endpoint, pool=workers, timeout_s=10.0) as client:
        await create_table(client, workload.table_definition())
        prepare_s = _time_prepare(client)
        try:
            with HistoryWriter(path) as history:
                sampler = SaturationSampler()
                sampler.start()
                started = time.perf_counter()
                pace = Pace(deadline=time.monotonic() + seconds)
                steps = await StepRunner(client, workload, history, workers, pace).run()
                wall = time.perf_counter() - started
                report = sampler.stop(ops=steps * workers)
        finally:
            await delete_table(client, workload.table)
    result = _harness_result(pair_ops(read_events(path)), wall, report)
    result.prepare_share = prepare_s[0] / wall if wall else 0.0
    return result


async def sustained_point(endpoint: Endpoint, workers: int, seconds: float, tmp: Path) -> HarnessResult:
    """``--pattern sustained`` registration (claim/release cycles, 4 workers per key) for ``seconds``
    through the prepared client: the server never idles between races."""
    run_id = f"bench-sustained-{workers}-{time.monotonic_ns() % 10**9}"
    config = WorkloadConfig(workers=workers, keys=max(1, workers // 4), rounds=1, seed=1, run_id=run_id,
                            pattern=SUSTAINED, per_key=4, sustain_s=seconds)
    workload = Registration(config, table_name(run_id, Registration.name))
    path = tmp / f"{run_id}.jsonl"
    async with make_client("prepared", endpoint, pool=workers, timeout_s=10.0) as client:
        await create_table(client, workload.table_definition())
        try:
            with HistoryWriter(path) as history:
                sampler = SaturationSampler()
                sampler.start()
                started = time.perf_counter()
                runner = StepRunner(client, workload, history, workers, Pace())
                await runner.run()
                wall = time.perf_counter() - started
                report = sampler.stop(ops=runner.ops)
        finally:
            await delete_table(client, workload.table)
    result = _harness_result(pair_ops(read_events(path)), wall, report)
    result.winners_ok = True  # claims and releases: many successes per key by design (checked by check_claims)
    return result


def _time_prepare(client: DynamoClient) -> list[float]:
    """Wrap ``client.prepare`` to add up its wall time (the work done before each starting gun)."""
    total = [0.0]
    inner = client.prepare

    def timed(request: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(request)
        finally:
            total[0] += time.perf_counter() - started

    client.prepare = timed  # type: ignore[method-assign]
    return total


def _harness_result(ops: list[Op], wall: float, report: dict[str, Any]) -> HarnessResult:
    latencies = sorted(op.latency_ns / 1e6 for op in ops if op.latency_ns is not None)
    oks: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for op in ops:
        outcomes[op.outcome] = outcomes.get(op.outcome, 0) + 1
        if op.type == OK:
            oks[op.key] = oks.get(op.key, 0) + 1
    keys = {op.key for op in ops}
    return HarnessResult(
        ops=len(ops), rps=len(ops) / wall if wall else 0.0,
        cpu_us_per_op=(report["client_cpu_ms_per_op"] or 0.0) * 1000, cpu_util=report["cpu_util"],
        p50_ms=_pct(latencies, 50), p99_ms=_pct(latencies, 99), lag_p99_ms=report["loop_lag_ms"]["p99"],
        winners_ok=all(oks.get(key, 0) == 1 for key in keys), outcomes=outcomes)


def _pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------- (c) burst


@dataclass
class BurstResult:
    """One 200-worker race on one key: how tightly the requests left the client."""

    span_ms: float
    max_in_flight: int
    winners: int


class _SdkWireProbe:
    """First/last ``before-send`` (the SDK handing a request to aiohttp) and requests in flight."""

    def __init__(self, client: DynamoClient) -> None:
        self.first: int | None = None
        self.last: int | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        client.raw.meta.events.register("before-send.dynamodb.PutItem", self._sent)
        client.raw.meta.events.register("needs-retry.dynamodb.PutItem", self._answered)

    def _sent(self, **_: Any) -> None:
        now = time.monotonic_ns()
        self.first = self.first or now
        self.last = now
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _answered(self, **_: Any) -> None:
        self.in_flight -= 1

    def reset(self) -> None:
        self.first = self.last = None
        self.in_flight = self.max_in_flight = 0

    def span_ms(self) -> float:
        return (self.last - self.first) / 1e6 if self.first and self.last else float("nan")


async def burst_races(endpoint: Endpoint, kind: str, races: int, tmp: Path, workers: int = 200) -> list[BurstResult]:
    """``races`` single-key races of ``workers`` workers; socket-write span and max in flight of each."""
    run_id = f"burst-{kind}-{time.monotonic_ns() % 10**9}"
    workload = _registration(workers, races, run_id)
    results = []
    async with make_client(kind, endpoint, pool=workers, timeout_s=10.0) as client:
        probe = _SdkWireProbe(client) if kind == "sdk" else None
        await create_table(client, workload.table_definition())
        try:
            with HistoryWriter(tmp / f"{run_id}.jsonl") as history:
                runner = StepRunner(client, workload, history, workers, Pace())
                for i in range(races):
                    if probe:
                        probe.reset()
                    else:
                        client.reset_stats()  # type: ignore[attr-defined]
                    await asyncio.wait_for(runner.race(Step(0, f"user-r0-{i:04d}")), 60)
                    span, peak = _burst_numbers(client, probe)
                    results.append(BurstResult(span, peak, 0))
        finally:
            await delete_table(client, workload.table)
    ops = pair_ops(read_events(tmp / f"{run_id}.jsonl"))
    for i, result in enumerate(results):
        result.winners = sum(1 for op in ops if op.key == f"user-r0-{i:04d}" and op.type == OK)
    return results


def _burst_numbers(client: DynamoClient, probe: _SdkWireProbe | None) -> tuple[float, int]:
    if probe is not None:
        return probe.span_ms(), probe.max_in_flight
    stats = client.stats  # type: ignore[attr-defined]
    return stats.span_ms or float("nan"), stats.max_in_flight


# --------------------------------------------------------------------------- (d) checkers


def registration_history(n_ops: int, workers: int = 200) -> tuple[list[Op], dict[str, Any]]:
    """Valid registration races: per key one winner, every loser failed and saw the winner's item."""
    ops: list[Op] = []
    final: dict[str, Any] = {}
    t = 0
    for k in range(max(1, n_ops // workers)):
        key = f"user-{k:07d}"
        winner = {"Username": key, "Email": f"w0.{key}@example.com", "RequestId": f"bench/{key}/w0"}
        final[key] = winner
        for w in range(workers):
            payload = {"Username": key, "Email": f"w{w}.{key}@example.com", "RequestId": f"bench/{key}/w{w}"}
            ok = w == 0
            ops.append(Op(index=2 * len(ops), process=w, workload="registration", f="register", key=key,
                          value=payload, invoke_time=t + w, type=OK if ok else FAIL, complete_time=t + 1000 + w,
                          error=None if ok else CONDITIONAL_FAILED, old=None if ok else winner))
        t += 5000
    return ops, final


def role_update_history(n_ops: int, workers: int = 200, rounds: int = 5) -> tuple[list[Op], dict[str, Any]]:
    """Valid CAS rounds: each round one worker moves the chain on, the others fail seeing its value."""
    ops: list[Op] = []
    final: dict[str, Any] = {}
    t = 0
    for k in range(max(1, n_ops // (workers * rounds))):
        key = f"user-{k:07d}"
        current = "member"
        for r in range(rounds):
            winner_value = f"w0-r{r}"
            for w in range(workers):
                ok = w == 0
                ops.append(Op(index=2 * len(ops), process=w, workload="role-update", f="cas", key=key,
                              value={"expected": current, "new": f"w{w}-r{r}"}, invoke_time=t + w,
                              type=OK if ok else FAIL, complete_time=t + 1000 + w,
                              error=None if ok else CONDITIONAL_FAILED, old=None if ok else {"Role": winner_value},
                              extra={"round": r}))
            current = winner_value
            t += 5000
        final[key] = {"Username": key, "Role": current}
    return ops, final


def time_checker(name: str, build: Callable[[int], tuple[list[Op], dict[str, Any]]],
                 check: Callable[..., Any], n_ops: int) -> tuple[str, int, float, str]:
    """(name, ops, seconds, verdict) of one checker on a freshly built history."""
    ops, final = build(n_ops)
    started = time.perf_counter()
    verdict = check(ops, final, {})
    return name, len(ops), time.perf_counter() - started, verdict.status


# --------------------------------------------------------------------------- orchestration


def med(values: list[float]) -> float:
    """Median, NaN when empty."""
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


@dataclass
class Results:
    """Everything measured, by level."""

    wrk: dict[tuple[str, int], list[WrkResult]] = field(default_factory=dict)
    harness: dict[tuple[str, int], list[HarnessResult]] = field(default_factory=dict)
    bursts: dict[str, list[BurstResult]] = field(default_factory=dict)
    checkers: list[tuple[str, int, float, str]] = field(default_factory=list)
    signature_checked: bool = False
    notes: list[str] = field(default_factory=list)
    end_to_end: dict[str, Any] = field(default_factory=dict)
    separate: Results | None = None  # (f): server and client on cores of their own; None on a 1-core machine


class CpuMeter:
    """CPU seconds (user + system) of the server process, read from /proc, and of this process's finished
    children (wrk): what each side of a measurement cost, per request."""

    def __init__(self, server_pid: int | None) -> None:
        self.stat = Path(f"/proc/{server_pid}/stat") if server_pid else None
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def server_s(self) -> float:
        """The server's CPU so far (NaN when it cannot be read)."""
        try:
            fields = self.stat.read_text().rpartition(")")[2].split() if self.stat else []
            return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            return float("nan")

    @staticmethod
    def children_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def wrk(self, run: Callable[[], WrkResult]) -> WrkResult:
        """``run`` with wrk's and the server's CPU per request filled in."""
        server, children = self.server_s(), self.children_s()
        result = run()
        result.server_us = (self.server_s() - server) / max(result.requests, 1) * 1e6
        result.cpu_us = (self.children_s() - children) / max(result.requests, 1) * 1e6
        return result

    def harness(self, run: Callable[[], HarnessResult]) -> HarnessResult:
        """``run`` with the server's CPU per op filled in (the harness measures its own)."""
        server = self.server_s()
        result = run()
        result.server_us = (self.server_s() - server) / max(result.ops, 1) * 1e6
        return result


def measure(plan: Plan, endpoint: Endpoint, wrk: str, runner: asyncio.Runner, tmp: Path,
            server_pid: int | None = None) -> Results:
    """Warm up, then every measurement in an interleaved order."""
    res = Results()
    url = endpoint.url or ""
    table = "bench-wrk"
    runner.run(_create_plain_table(endpoint, table))
    res.signature_checked = signature_checked(url, table)
    _warm_up(plan, endpoint, wrk, runner, tmp, url, table)
    cpu = CpuMeter(server_pid)
    for rep in range(plan.reps):
        for level in plan.levels:
            res.wrk.setdefault(("race", level), []).append(cpu.wrk(
                lambda level=level: run_wrk(wrk, url, table, "race", level, plan.seconds, level, plan.wrk_threads)))
            for kind in CLIENTS:
                point = harness_point(endpoint, kind, level, plan.seconds, tmp)
                res.harness.setdefault((kind, level), []).append(
                    cpu.harness(lambda point=point: runner.run(asyncio.wait_for(point, plan.point_timeout_s))))
            if level >= 4:
                point = sustained_point(endpoint, level, plan.seconds, tmp)
                res.harness.setdefault((SUSTAINED_ROW, level), []).append(
                    cpu.harness(lambda point=point: runner.run(asyncio.wait_for(point, plan.point_timeout_s))))
            # wrk's conditional puts are what the sustained row is held to: measured beside it in every repetition,
            # a median as the row is (it was one 3 s point per level against the row's median of three; the
            # 64-worker sustained ratio came out 0.85 in one run and 1.00 in another).
            for mode in ("put", "cond") if plan.context_s else ():
                if mode == "cond" or rep == 0:
                    res.wrk.setdefault((mode, level), []).append(cpu.wrk(lambda mode=mode, level=level: run_wrk(
                        wrk, url, table, mode, level, plan.context_s, level, plan.wrk_threads)))
    for kind in CLIENTS:
        res.bursts[kind] = runner.run(burst_races(endpoint, kind, plan.bursts, tmp))
    return res


def split_cores() -> tuple[set[int], set[int]] | None:
    """(the server's cores, the client's core) for (f): the last core this process may use for the client (the
    harness runs its event loop on one thread; wrk gets the same one core), the others for the server; None
    with fewer than two."""
    cores = sorted(os.sched_getaffinity(0))
    return (set(cores[:-1]), {cores[-1]}) if len(cores) >= 2 else None


def _pin_process(pid: int, cores: set[int]) -> None:
    """Move every thread of ``pid`` to ``cores`` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cores)


def measure_separate(plan: Plan, endpoint: Endpoint, wrk: str, runner: asyncio.Runner, tmp: Path,
                     server_pid: int) -> Results | None:
    """(f): wrk's race mix against the prepared harness, and wrk's conditional puts against the sustained pattern,
    at each level of 16 workers or more, interleaved, with the server pinned to its cores and this process and
    wrk to the client's; the affinities are restored after."""
    split = split_cores()
    if split is None:
        return None
    server_cores, client_core = split
    mine = os.sched_getaffinity(0)
    res = Results()
    url = endpoint.url or ""
    cpu = CpuMeter(server_pid)
    try:
        _pin_process(server_pid, server_cores)
        os.sched_setaffinity(0, client_core)
        run_wrk(wrk, url, "bench-wrk", "race", 64, plan.warmup_s / 4, 64, plan.wrk_threads, client_core)
        for _ in range(plan.reps):
            for level in (lvl for lvl in plan.levels if lvl >= 16):
                for _, mode in SEPARATE_PAIRS:
                    res.wrk.setdefault((mode, level), []).append(cpu.wrk(lambda mode=mode, level=level: run_wrk(
                        wrk, url, "bench-wrk", mode, level, plan.seconds, level, plan.wrk_threads, client_core)))
                for kind, point in (("prepared", harness_point(endpoint, "prepared", level, plan.seconds, tmp)),
                                    (SUSTAINED_ROW, sustained_point(endpoint, level, plan.seconds, tmp))):
                    res.harness.setdefault((kind, level), []).append(cpu.harness(
                        lambda point=point: runner.run(asyncio.wait_for(point, plan.point_timeout_s))))
    finally:
        os.sched_setaffinity(0, mine)
        _pin_process(server_pid, mine)
    return res


def _warm_up(plan: Plan, endpoint: Endpoint, wrk: str, runner: asyncio.Runner, tmp: Path, url: str,
             table: str) -> None:
    """The fresh JVM is ~2x slower for its first seconds: exercise every path once."""
    run_wrk(wrk, url, table, "race", 64, plan.warmup_s / 2, 64, plan.wrk_threads)
    run_wrk(wrk, url, table, "cond", 64, plan.warmup_s / 2, 64, plan.wrk_threads)
    for kind in CLIENTS if plan.warm_harness else ():
        runner.run(asyncio.wait_for(harness_point(endpoint, kind, 64, 1.0, tmp), plan.point_timeout_s))


async def _create_plain_table(endpoint: Endpoint, table: str) -> None:
    async with make_client("sdk", endpoint, pool=1) as client:
        await create_table(client, {
            "TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "Username", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "Username", "KeyType": "HASH"}]})


def check_speed(plan: Plan) -> list[tuple[str, int, float, str]]:
    """Checker time on synthetic registration and role-update histories of ``plan.check_ops`` ops."""
    return [
        time_checker("registration", registration_history, Registration.check, plan.check_ops),
        time_checker("role-update (CAS)", role_update_history, RoleUpdate.check, plan.check_ops),
    ]


# --------------------------------------------------------------------------- (e) end to end


def end_to_end(tmp: Path) -> dict[str, Any]:
    """Wall time of ``stress run --workers 200`` exactly as a user runs it (its own DynamoDB Local, warm-up,
    both default workloads, verdict and report), with the phases its run.json records."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--workers", "200", "--json",
                           "--reports-dir", str(tmp / "end-to-end")],
                          capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"wall_s": wall, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    races = sum(c.get("wall_s", 0.0) for c in meta.get("client", {}).values())
    ops = sum(w["requests"] for w in summary["workloads"])
    return {"wall_s": wall, "verdict": summary["verdict"], "ops": ops, "ready_s": meta.get("backend_ready_s"),
            "warmup_s": meta.get("warmup", {}).get("seconds"), "races_s": races,
            "after_s": wall - meta.get("wall_s", wall)}


# --------------------------------------------------------------------------- report


def render(plan: Plan, res: Results, endpoint: Endpoint, small: bool) -> tuple[str, list[tuple[str, bool]]]:
    """The table and the goal lines."""
    lines = [f"ddb-stress throughput benchmark — {endpoint.version} at {endpoint.url}"
             f"{' (--small)' if small else ''}; medians of {plan.reps} interleaved run(s), "
             f"{plan.seconds:g} s each",
             f"DynamoDB Local verifies SigV4 signatures: {'yes' if res.signature_checked else 'no'} "
             "(wrk sends a fixed Authorization header with the access key ddbstress)", ""]
    lines += [*_server_table(plan, res), "", *_harness_table(plan, res), "", *_burst_table(res), ""]
    lines += [*_checker_table(res), ""]
    if res.end_to_end:
        lines += [*_end_to_end_table(res), ""]
    if res.separate:
        lines += [*_separate_table(plan, res.separate), ""]
    goals = _goals(plan, res)
    lines.append("goals:")
    lines += [f"  [{'met ' if ok else 'MISS'}] {text}" for text, ok in goals]
    return "\n".join(lines), goals


def _server_table(plan: Plan, res: Results) -> list[str]:
    out = ["(a) server capacity, wrk (PutItem, unique keys); CPU per request of wrk and of the server",
           f"  {'mix':<34}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}"
           f"{'wrk us':>8}{'server us':>10}"]
    mixes = {"put": "put, no condition", "cond": "put, attribute_not_exists", "race": "race mix (1 ok + N-1 CCF)"}
    for mode, label in mixes.items():
        for level in plan.levels:
            runs = res.wrk.get((mode, level))
            if not runs:
                continue
            out.append(f"  {label:<34}{level:>6}{med([r.rps for r in runs]):>9.0f}"
                       f"{med([r.p50_ms for r in runs]):>9.1f}{med([r.p99_ms for r in runs]):>9.1f}"
                       f"{sum(r.non2xx for r in runs):>9}{sum(r.socket_errors for r in runs):>9}"
                       f"{med([r.cpu_us for r in runs]):>8.0f}{med([r.server_us for r in runs]):>10.0f}")
    return out


def _harness_table(plan: Plan, res: Results) -> list[str]:
    out = ["(b) harness: runner + registration workload + history, same race mix",
           f"  {'client':<10}{'workers':>8}{'ops/s':>9}{'x wrk':>7}{'cpu us/op':>10}{'cpu %':>7}"
           f"{'p50 ms':>9}{'p99 ms':>9}{'lag p99':>9}{'prep %':>8}{'1 winner':>10}{'server us':>10}"]
    for level in plan.levels:
        wrk_rps = med([r.rps for r in res.wrk.get(("race", level), [])])
        for kind in (*CLIENTS, SUSTAINED_ROW):
            runs = res.harness.get((kind, level), [])
            if not runs:
                continue
            rps = med([r.rps for r in runs])
            out.append(f"  {kind:<10}{level:>8}{rps:>9.0f}{rps / wrk_rps:>7.2f}"
                       f"{med([r.cpu_us_per_op for r in runs]):>10.0f}{med([r.cpu_util for r in runs]) * 100:>7.0f}"
                       f"{med([r.p50_ms for r in runs]):>9.1f}{med([r.p99_ms for r in runs]):>9.1f}"
                       f"{med([r.lag_p99_ms for r in runs]):>9.1f}{med([r.prepare_share for r in runs]) * 100:>8.0f}"
                       f"{'yes' if all(r.winners_ok for r in runs) else 'NO':>10}"
                       f"{med([r.server_us for r in runs]):>10.0f}")
    out += _cpu_budget(plan, res)
    return out


def _cpu_budget(plan: Plan, res: Results) -> list[str]:
    """Where the cores go: with the server CPU-bound on cores it shares with the client, every µs of client CPU
    per request is taken from the server, so the best ratio to wrk is (server + wrk CPU) / (server + client CPU)
    per request. Printed next to the measured ratio, per level."""
    cores = os.cpu_count() or 1
    out = [f"  CPU per request on this machine's {cores} core(s), server + client (wrk | prepared | sustained), "
           "and the ratio to wrk that CPU alone allows (measured ratio after it):"]
    for level in plan.levels:
        wrk = res.wrk.get(("race", level), [])
        if not wrk:
            continue
        base = med([r.server_us for r in wrk]) + med([r.cpu_us for r in wrk])
        cells = [f"wrk {base:.0f}"]
        for kind in ("prepared", SUSTAINED_ROW):
            runs = res.harness.get((kind, level), [])
            if runs:
                cost = med([r.server_us for r in runs]) + med([r.cpu_us_per_op for r in runs])
                measured = med([r.rps for r in runs]) / med([r.rps for r in wrk])
                cells.append(f"{kind} {cost:.0f} us (allows {base / cost:.2f}x, measured {measured:.2f}x)")
        out.append(f"    {level:>4} workers: " + "; ".join(cells))
    return out


def _burst_table(res: Results) -> list[str]:
    out = ["(c) one 200-worker race on one key (sdk: time of the SDK's before-send event)",
           f"  {'client':<10}{'races':>6}{'span ms med':>12}{'span ms min':>12}{'in flight med':>14}{'winners':>9}"]
    for kind, runs in res.bursts.items():
        spans = [r.span_ms for r in runs]
        out.append(f"  {kind:<10}{len(runs):>6}{med(spans):>12.2f}{min(spans):>12.2f}"
                   f"{med([float(r.max_in_flight) for r in runs]):>14.0f}"
                   f"  {','.join(str(r.winners) for r in runs)}")
    return out


def _checker_table(res: Results) -> list[str]:
    out = ["(d) checkers on synthetic histories", f"  {'checker':<22}{'ops':>11}{'seconds':>9}{'verdict':>9}"]
    out += [f"  {name:<22}{ops:>11,}{seconds:>9.2f}{status:>9}" for name, ops, seconds, status in res.checkers]
    return out


def _end_to_end_table(res: Results) -> list[str]:
    e2e = res.end_to_end
    if "error" in e2e:
        return ["(e) stress run --workers 200, end to end", f"  failed after {e2e['wall_s']:.1f} s: {e2e['error']}"]
    return ["(e) stress run --workers 200, end to end (a fresh DynamoDB Local, both default workloads, report)",
            f"  {'wall s':>8}{'verdict':>9}{'ops':>8}{'Local up s':>11}{'warm-up s':>10}{'races s':>9}"
            f"{'checks+report s':>16}",
            f"  {e2e['wall_s']:>8.1f}{e2e['verdict']:>9}{e2e['ops']:>8}{e2e['ready_s']:>11.1f}{e2e['warmup_s']:>10.1f}"
            f"{e2e['races_s']:>9.1f}{e2e['after_s']:>16.1f}"]


def _separate_table(plan: Plan, sep: Results) -> list[str]:
    server, client = split_cores() or (set(), set())
    out = [f"(f) server on core(s) {','.join(map(str, sorted(server)))}, client (harness or wrk) on core "
           f"{','.join(map(str, sorted(client)))}: the race mix and the sustained pattern",
           f"  {'workers':>8}{'wrk race':>10}{'prepared':>10}{'x wrk':>7}{'cpu us/op':>10}{'allows':>8}"
           f"{'wrk cond':>10}{'sustained':>10}{'x wrk':>7}{'cpu us/op':>10}{'allows':>8}"]
    for level in (lvl for lvl in plan.levels if lvl >= 16):
        row = f"  {level:>8}"
        for kind, mode in SEPARATE_PAIRS:
            runs = sep.harness.get((kind, level), [])
            row += (f"{med([r.rps for r in sep.wrk.get((mode, level), [])]):>10.0f}{med([r.rps for r in runs]):>10.0f}"
                    f"{_separate_ratio(sep, kind, mode, level):>7.2f}{med([r.cpu_us_per_op for r in runs]):>10.0f}"
                    f"{_server_allows(sep, kind, mode, level):>7.2f}x")
        out.append(row)
    out.append("  allows: the server's CPU per request under wrk over its CPU per op under the harness: with its core "
               "saturated, the ratio the server's own work sets (what it does more per op under the harness's "
               "pattern), however cheap the client")
    return out


def _server_allows(sep: Results, kind: str, mode: str, level: int) -> float:
    """The server's CPU per request under wrk's ``mode`` over its CPU per op under the harness's ``kind``."""
    return (med([r.server_us for r in sep.wrk.get((mode, level), [])])
            / med([r.server_us for r in sep.harness.get((kind, level), [])]))


def _separate_ratio(sep: Results, kind: str, mode: str, level: int) -> float:
    """(f): the harness's ``kind`` rows against wrk's ``mode`` at ``level``, medians."""
    harness, wrk = sep.harness.get((kind, level), []), sep.wrk.get((mode, level), [])
    return med([r.rps for r in harness]) / med([r.rps for r in wrk])


def _goals(plan: Plan, res: Results) -> list[tuple[str, bool]]:
    goals = []
    if 1 in plan.levels:
        added = (med([r.p50_ms for r in res.harness.get(("prepared", 1), [])])
                 - med([r.p50_ms for r in res.wrk.get(("race", 1), [])]))
        goals.append((f"harness-added latency at 1 worker <= {GOAL_ADDED_MS:g} ms (prepared p50 - wrk p50): "
                      f"{added:.2f} ms", added <= GOAL_ADDED_MS))
    for level in (lvl for lvl in plan.levels if lvl >= 16):
        wrk_rps = med([r.rps for r in res.wrk.get(("race", level), [])])
        rps = med([r.rps for r in res.harness.get(("prepared", level), [])])
        goals.append((f"prepared harness >= {GOAL_RATIO}x wrk at {level} workers: {rps / wrk_rps:.2f}x",
                      rps >= GOAL_RATIO * wrk_rps))
    for level in (lvl for lvl in plan.levels if lvl >= 16):
        cond = med([r.rps for r in res.wrk.get(("cond", level), res.wrk.get(("race", level), []))])
        rps = med([r.rps for r in res.harness.get((SUSTAINED_ROW, level), [])])
        goals.append((f"sustained harness >= {GOAL_SUSTAINED_RATIO}x wrk's conditional puts at {level} workers: "
                      f"{rps / cond:.2f}x", rps >= GOAL_SUSTAINED_RATIO * cond))
    for level in (lvl for lvl in plan.levels if lvl >= 16) if res.separate else ():
        sep = res.separate
        for (kind, mode), goal in zip(SEPARATE_PAIRS, (GOAL_RATIO, GOAL_SUSTAINED_RATIO), strict=True):
            ratio = _separate_ratio(sep, kind, mode, level)
            goals.append((f"{kind} harness >= {goal}x wrk's {'race mix' if mode == 'race' else 'conditional puts'} "
                          f"at {level} workers, server and client on cores of their own: {ratio:.2f}x (the "
                          f"server's own CPU per request allows {_server_allows(sep, kind, mode, level):.2f}x)",
                          ratio >= goal))
    cpu = max(med([r.cpu_us_per_op for r in res.harness.get(("prepared", level), [])]) for level in plan.levels)
    goals.append((f"client CPU <= {GOAL_CPU_MS} ms/op (prepared, worst level): {cpu / 1000:.3f} ms",
                  cpu <= GOAL_CPU_MS * 1000))
    bursts = res.bursts.get("prepared", [])
    span = med([b.span_ms for b in bursts])
    flight = med([float(b.max_in_flight) for b in bursts])
    goals.append((f"200-way burst <= {GOAL_BURST_MS:g} ms with >= {GOAL_IN_FLIGHT} in flight (prepared, median): "
                  f"{span:.2f} ms, {flight:.0f} in flight", span <= GOAL_BURST_MS and flight >= GOAL_IN_FLIGHT))
    for name, ops, seconds, status in res.checkers:
        scaled = f" ({ops:,} ops; goal is for {GOAL_CHECK_OPS:,})" if ops < GOAL_CHECK_OPS * 0.9 else ""
        goals.append((f"{name} checker on a 1M-op history <= {GOAL_CHECK_S:g} s: {seconds:.2f} s{scaled}",
                       seconds <= GOAL_CHECK_S * ops / GOAL_CHECK_OPS and status == VALID))
    e2e = res.end_to_end
    if e2e:
        goals.append((f"stress run --workers 200 end to end <= {GOAL_END_TO_END_S:g} s: {e2e['wall_s']:.1f} s"
                      f" ({e2e.get('verdict', 'failed')})",
                      e2e["wall_s"] <= GOAL_END_TO_END_S and e2e.get("verdict") == VALID))
    return goals


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 0 even when goals are missed (it is a measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="short smoke-test sizes (well under a minute)")
    args = parser.parse_args(argv)
    plan = SMALL if args.small else FULL
    wrk = ensure_wrk()
    jar_home = local_install.find_jar_home() or local_install.install()
    server = LocalServer(jar_home)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ddbstress-bench-") as tmpdir:
        try:
            endpoint = server.start()
            assert endpoint.url and endpoint.url.startswith("http://127.0.0.1:"), endpoint.url
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                results = measure(plan, endpoint, wrk, runner, Path(tmpdir), server.process.pid)
                results.separate = measure_separate(plan, endpoint, wrk, runner, Path(tmpdir), server.process.pid)
        finally:
            server.stop()
    results.checkers = check_speed(plan)
    if plan.end_to_end:  # after our own server stopped: the run starts its own
        with tempfile.TemporaryDirectory(prefix="ddbstress-e2e-") as e2e_dir:
            results.end_to_end = end_to_end(Path(e2e_dir))
    table, _ = render(plan, results, endpoint, args.small)
    print(table)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
