"""One `stress run`: run directory, backend, workloads, history, final state, verdict."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import platform
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.backends import aws
from harness.backends import servers as backends
from harness.backends.endpoint import Endpoint, redact_url
from harness.clients.sdk import DynamoClient
from harness.engine.executor import Executor, InProcess, Processes, RayShards, check_ray_address
from harness.engine.options import RAY, RunOptions
from harness.engine.pacing import rate_slice
from harness.engine.runner import Pace, create_table, delete_table, event_loop_factory, table_name
from harness.engine.signals import raise_interrupt, sigterm_as_interrupt
from harness.errors import UsageError
from harness.evaluate import evaluate
from harness.history.events import HistoryWriter, write_json
from harness.history.rundir import RUN_FORMAT, make_run_dir, new_run_id
from harness.nemesis.cover import FaultCover
from harness.nemesis.crash import CrashLoop
from harness.nemesis.proxy import FaultProxy
from harness.nemesis.spec import CRASH, fault_event
from workloads import get_workload
from workloads.base import (
    FINAL_READS_IN_FLIGHT,
    SUSTAINED,
    Workload,
    WorkloadConfig,
)

PHASE_START = {"local": "starting DynamoDB Local", "moto": "starting moto", "dynalite": "starting dynalite",
               "endpoint": "reaching the endpoint", "aws": "reaching AWS"}
WARMUP_RACES, WARMUP_WORKERS = 8, 200  # unrecorded races before a fresh DynamoDB Local is measured


def versions() -> dict[str, str]:
    """Versions of the harness, Python and the client stack (recorded in run.json)."""
    found = {"python": platform.python_version()}
    for dist in ("ddb-stress", "aioboto3", "aiobotocore", "botocore", "moto"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    return found


class Run:
    """A run in progress: owns the run directory, the history and the workloads."""

    def __init__(self, options: RunOptions) -> None:
        options.validate()
        self.options = options
        self.seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        self.run_id = new_run_id()
        config = WorkloadConfig(options.workers, options.keys, options.rounds, self.seed, self.run_id,
                                unsafe=options.unsafe, key_prefix=f"ddbstress-{self.run_id}-" if options.table else "",
                                pattern=options.pattern, per_key=options.per_key, sustain_s=options.sustain_s())
        self.workloads: list[Workload] = [
            get_workload(name)(config, options.table or table_name(self.run_id, get_workload(name).name))
            for name in options.workloads
        ]
        # A broken workload contract or a cluster address nothing answers on stops here: before any request,
        # and before a run directory exists.
        Workload.validate_contracts(self.workloads)
        if options.executor == RAY:
            check_ray_address(options.ray_address)
        self.run_dir = make_run_dir(options.reports_dir, self.run_id)
        self.final_state: dict[str, Any] = {}
        self._terminated = False
        self.phase: Callable[[str, int | None], None] = lambda text, races: None
        self.meta: dict[str, Any] = {
            "format": RUN_FORMAT, "run_id": self.run_id,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "stress " + " ".join(_redact_argv(sys.argv[1:])),
            "config": {**asdict(options), "reports_dir": str(options.reports_dir),
                       "endpoint_url": redact_url(options.endpoint_url) if options.endpoint_url else None,
                       "workloads": list(options.workloads), "seed": self.seed,
                       "rounds": {w.name: w.rounds for w in self.workloads}},
            "backend": {"kind": options.backend},
            "versions": versions(),
        }
        if options.rate:
            per_slice, slice_s = rate_slice(options.rate)
            self.meta["pacing"] = {"per_slice": per_slice, "slice_ms": round(slice_s * 1000, 3)}
        write_json(self.run_dir / "run.json", self.meta)

    def plan(self, endpoint: Endpoint) -> aws.Plan:
        """What this run would do to an AWS account (one STS call, nothing else)."""
        requests: Counter[str] = Counter()
        for workload in self.workloads:
            requests.update(workload.planned_requests(self.options.rate))
        tables = sorted({w.table for w in self.workloads})
        return aws.Plan(aws.caller_account(endpoint), endpoint.region, tables, requests)

    def execute(self, on_step: Callable[[], None] | None = None,
                on_ready: Callable[[Endpoint], None] | None = None,
                confirm: Callable[[aws.Plan], None] | None = None,
                on_phase: Callable[[str, int | None], None] | None = None,
                kept: backends.KeptServers | None = None) -> dict[str, Any]:
        """Start the backend (or take it from ``kept``), run every workload, then check; returns the verdict.json
        object.

        On AWS, ``confirm`` sees the plan first and raises to refuse; nothing but STS is sent before.
        ``on_phase(text, races)`` hears each phase (starting the backend, warm-up, each workload with its
        number of races, checking, drawing) and ``on_step()`` each race, for a progress display.
        """
        opts = self.options
        started = time.monotonic()
        if on_phase:
            self.phase = on_phase
        self.phase(PHASE_START.get(opts.backend if not opts.endpoint_url else "endpoint", "starting"), None)
        faults = opts.fault_specs()
        persist = opts.persist or any(spec.kind == "crash" for spec in faults)
        with sigterm_as_interrupt(), backends.open_backend(
            opts.backend, endpoint_url=opts.endpoint_url, region=opts.region, local_jar=opts.local_jar,
            db_path=self.run_dir / "dynamodb-local-db" if persist else None, workers=opts.workers, kept=kept,
        ) as endpoint:
            if endpoint.kind == "aws":
                plan = self.plan(endpoint)
                self.meta["plan"] = {"requests": dict(plan.requests), "estimated_usd": round(plan.cost_usd(), 6),
                                     "prices_taken": aws.PRICES_TAKEN, "account": plan.account}
                write_json(self.run_dir / "run.json", self.meta)
                if confirm is None:
                    raise UsageError("refusing to send requests to AWS without confirmation (--yes)")
                confirm(plan)
                backends.check_reachable(endpoint)
            self.meta["backend"] = endpoint.describe()
            self.meta["backend_ready_s"] = round(time.monotonic() - started, 2)
            write_json(self.run_dir / "run.json", self.meta)
            if on_ready:
                on_ready(endpoint)
            with HistoryWriter(self.run_dir / "history.jsonl") as history, asyncio.Runner(
                loop_factory=event_loop_factory()
            ) as runner:
                try:
                    runner.run(self._run_all(endpoint, history, on_step))
                except asyncio.CancelledError:
                    if self._terminated:  # SIGTERM: cleaned up like Ctrl-C, reported like Ctrl-C
                        raise KeyboardInterrupt from None
                    raise
        self.meta["wall_s"] = round(time.monotonic() - started, 2)
        self.meta["client_kind"] = opts.client_kind()
        write_json(self.run_dir / "run.json", self.meta)
        self.phase("checking the history", None)
        summary = evaluate(self.run_dir)
        write_json(self.run_dir / "verdict.json", summary)
        self.phase("drawing the report", None)
        self.report_path = write_report(self.run_dir, summary)
        return summary

    async def _run_all(self, endpoint: Endpoint, history: HistoryWriter,
                       on_step: Callable[[], None] | None) -> None:
        # Inside the loop SIGTERM cancels the main task, so every cleanup runs as on Ctrl-C (not by
        # re-sending SIGINT: a process started in the background by a shell has SIGINT ignored).
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._terminate, asyncio.current_task())
        try:
            await self._run_workloads(endpoint, history, on_step)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, raise_interrupt)

    def _terminate(self, main: asyncio.Task[Any] | None) -> None:
        self._terminated = True
        if main is not None:
            main.cancel()

    async def _run_workloads(self, endpoint: Endpoint, history: HistoryWriter,
                             on_step: Callable[[], None] | None) -> None:
        """The one run loop, whatever the executor: faults, warm-up, then every workload's races."""
        opts = self.options
        faults = opts.fault_specs()
        async with contextlib.AsyncExitStack() as stack:
            # Tables, seeding and the final read go straight to the backend, with retries: only the
            # workers' ops cross the fault proxy.
            admin = await stack.enter_async_context(DynamoClient(endpoint, pool=FINAL_READS_IN_FLIGHT, retries=8,
                                                                 timeout_s=30))
            target, proxy = endpoint, None
            proxy_faults = [spec for spec in faults if spec.kind != CRASH]
            if proxy_faults:
                proxy = FaultProxy(endpoint.url, proxy_faults, seed=self.seed,
                                   on_fault=lambda kind, info: history.append(fault_event(kind, info)))
                await stack.enter_async_context(proxy)
                target = endpoint.via(proxy.url)
                stack.callback(self._record_faults, proxy)
            executor = await stack.enter_async_context(self._executor(target, history))
            crash = next((spec for spec in faults if spec.kind == CRASH), None)
            if endpoint.kind == "local":
                await self._warm_up(admin, executor, endpoint.server)
            for spec, workload in zip(opts.workloads, self.workloads, strict=True):
                nemesis = CrashLoop(endpoint.server, crash.interval_s, history) if crash else None
                self.phase(f"racing {workload.name}", sum(1 for _ in workload.steps()))
                async with self.workload_table(admin, workload):
                    # Each workload races for --duration (a sustained round loops for it itself): one budget
                    # shared by all had left the second default workload no race at --duration 1.
                    pace = Pace(rate=opts.rate, duration_s=opts.duration if opts.pattern != SUSTAINED else None)
                    await self._race_workload(workload, spec, admin, executor, pace, on_step, proxy, nemesis)

    def _executor(self, target: Endpoint, history: HistoryWriter) -> Executor:
        """In this process, spread over ``--processes`` children, or over ``--shards`` Ray actors: the same races."""
        opts = self.options
        if opts.executor == RAY:
            return RayShards(target, opts.client_kind(), opts.workers, opts.shard_count(), opts.ray_address,
                             opts.retries, opts.timeout, opts.rate, self.run_dir, history, self.meta)
        if opts.processes > 1:
            return Processes(target, opts.client_kind(), opts.workers, opts.processes, opts.retries, opts.timeout,
                             opts.rate, self.run_dir, history, self.meta)
        return InProcess(target, opts.client_kind(), opts.workers, opts.retries, opts.timeout, history)

    async def _race_workload(self, workload: Workload, spec: str, admin: DynamoClient, executor: Executor,
                             pace: Pace, on_step: Callable[[], None] | None, proxy: FaultProxy | None,
                             nemesis: CrashLoop | None) -> None:
        """The workload's planned rounds, then extra rounds until every requested fault has fired.

        Crashes only while workers race (seeding and the final read need a live server), and races
        wait while a crashed server restarts, so few ops hit a server that is down."""
        cover = FaultCover(self.options.fault_specs(), lambda: self._fault_counts(proxy, nemesis))
        executor.begin(workload, spec, pace, on_step, nemesis.wait_until_up if nemesis else None)
        try:
            async with nemesis or contextlib.nullcontext():
                pace.racing()
                await executor.race(workload)
                while cover.keep_racing() and not pace.expired():
                    if not cover.extra_rounds:
                        kinds = ", ".join(spec.kind for spec in cover.pending())
                        self.phase(f"{workload.name}: more rounds until {kinds} fires", None)
                    round_ = workload.add_round()
                    cover.extra_rounds += 1
                    await workload.setup_round(admin, round_)
                    await executor.race(workload, [round_])
        finally:
            self.meta.setdefault("client", {})[workload.name] = executor.end(workload)
            self.meta["config"]["rounds"][workload.name] = workload.rounds
            faults_meta = self.meta.setdefault("faults", {"specs": [str(spec) for spec in cover.specs]})
            faults_meta.setdefault("by_workload", {})[workload.name] = cover.injected()
            if cover.extension():
                self.meta.setdefault("extended", {})[workload.name] = cover.extension()
            write_json(self.run_dir / "run.json", self.meta)

    @staticmethod
    def _fault_counts(proxy: FaultProxy | None, nemesis: CrashLoop | None) -> dict[str, int]:
        counts = dict(proxy.counts) if proxy else {}
        if nemesis:
            counts[CRASH] = nemesis.crashes
        return counts

    @contextlib.asynccontextmanager
    async def workload_table(self, admin: DynamoClient, workload: Workload) -> AsyncIterator[None]:
        """A workload's table around its races: created (or a user's checked), seeded, read back with
        ConsistentRead into final_state.json, and deleted (never a user's table) — also on failure."""
        try:
            # Inside the try: Ctrl-C while the table is being created (the request sent, the waiter not
            # done) must still delete it.
            if self.options.table:
                await check_existing_table(admin, workload)
            else:
                await create_table(admin, {**workload.table_definition(), "Tags": aws.table_tags(self.run_id)})
            await workload.setup(admin)
            yield
            self.final_state[workload.name] = await workload.read_final(admin)
            write_json(self.run_dir / "final_state.json", self.final_state)
        finally:
            if not self.options.table:
                await delete_table(admin, workload.table)

    @contextlib.asynccontextmanager
    async def warm_up_table(self, admin: DynamoClient) -> AsyncIterator[Workload]:
        """A throwaway registration table for the unrecorded warm-up races of a fresh DynamoDB Local."""
        from workloads.registration import Registration

        config = WorkloadConfig(min(self.options.workers, WARMUP_WORKERS), WARMUP_RACES, 1, self.seed, self.run_id)
        warmup = Registration(config, table_name(self.run_id, "warmup"))
        try:
            await create_table(admin, {**warmup.table_definition(), "Tags": aws.table_tags(self.run_id)})
            yield warmup
        finally:
            await delete_table(admin, warmup.table)

    async def _warm_up(self, admin: DynamoClient, executor: Executor, server: backends.LocalServer) -> None:
        """A fresh JVM runs ~2x slower for its first seconds: race a throwaway table first, unrecorded — unless
        an earlier run of the same command warmed this server (kept) up with as many workers or more."""
        workers = min(self.options.workers, WARMUP_WORKERS)
        if server.warmed_up_by >= workers:
            self.meta["warmup"] = {"ops": 0, "seconds": 0.0, "by": "an earlier run of this command"}
            return
        started = time.monotonic()
        self.phase("warm-up (unrecorded races)", None)
        async with self.warm_up_table(admin) as warmup:
            ops = await executor.warm_up(warmup)
        server.warmed_up_by = workers
        self.meta["warmup"] = {"ops": ops, "seconds": round(time.monotonic() - started, 2)}

    def _record_faults(self, proxy: FaultProxy) -> None:
        self.meta.setdefault("faults", {}).update(specs=[str(spec) for spec in self.options.fault_specs()],
                                                  counts=dict(proxy.counts))


async def check_existing_table(client: DynamoClient, workload: Workload) -> None:
    """A user's table must exist and have the workload's string hash key."""
    try:
        table = (await client.raw.describe_table(TableName=workload.table))["Table"]
    except Exception as exc:
        raise UsageError(f"--table {workload.table}: cannot describe it ({type(exc).__name__})") from None
    hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    if hash_key != workload.key_attribute or types.get(hash_key) != "S" or len(table["KeySchema"]) != 1:
        raise UsageError(f"--table {workload.table}: workload {workload.name!r} needs a table whose only key is "
                         f"the string hash key {workload.key_attribute!r}")


def write_report(run_dir: Path, verdict: dict[str, Any] | None = None) -> Path | None:
    """Plots and report.html (showing ``verdict``, just checked, if given); a broken report never changes the
    verdict, it only warns."""
    try:
        from harness.report import render_report

        return render_report(run_dir, verdict)
    except Exception as exc:
        print(f"stress: warning: report not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def _redact_argv(argv: list[str]) -> list[str]:
    return [redact_url(arg) if "://" in arg else arg for arg in argv]
