"""Executors: where a workload's races run. The engine (``harness.engine.run``) is the one run loop — backend,
tables, seeding, faults, warm-up, rounds until every fault fired, the final read, the verdict — and it
asks an executor to race a workload's steps on the run's workers; history events come back into the
run's ``history.jsonl``. Only the transport differs, as with Locust's Local/Master/Worker runners:

* :class:`InProcess` — every worker is a task of this process's event loop (``StepRunner``);
* :class:`Processes` — the workers of every race spread over P spawned processes released by one
  shared gun (``harness.engine.processes``), their histories merged by the system-wide monotonic clock;
* :class:`RayShards` — the workers spread over N Ray actors on one machine or a cluster, released at
  an absolute start time on each shard's clock (``harness.engine.ray_shards``, the one module that
  imports Ray), their histories streamed back and merged on the driver's clock.

The interface is what a cluster executor plugs into: workers that live elsewhere (``begin``/``race``
say what to race, never how), a gate the engine can hold (a crashed server restarting), histories that
come back as events, and a saturation report per workload.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.backends.endpoint import LOOPBACK_HOSTS, Endpoint
from harness.clients.choose import make_client
from harness.clients.sdk import DynamoClient
from harness.engine.options import ray_host_port
from harness.engine.runner import Pace, StepRunner
from harness.engine.saturation import SaturationSampler
from harness.errors import UsageError
from harness.history.events import HistoryWriter, write_json
from workloads.base import Workload

Gate = Callable[[], Awaitable[None]]


class Executor(ABC):
    """Runs races of workloads on the run's workers (an async context manager)."""

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @abstractmethod
    async def warm_up(self, workload: Workload) -> int:
        """Race every step of ``workload`` unrecorded; returns how many ops were sent."""

    @abstractmethod
    def begin(self, workload: Workload, spec: str, pace: Pace, on_step: Callable[[], None] | None,
              gate: Gate | None) -> None:
        """Before ``workload``'s first race (``spec``: its name or module:Class, for other processes)."""

    @abstractmethod
    async def race(self, workload: Workload, rounds: Sequence[int] | None = None) -> None:
        """Race ``rounds`` of ``workload`` (None: its planned rounds) until they end or the pace expires."""

    @abstractmethod
    def end(self, workload: Workload) -> dict[str, Any]:
        """After its last race: the client's saturation report for ``workload`` (CPU, loop lag, ops)."""


class InProcess(Executor):
    """Every worker a task of this event loop, all sharing one client sized to the workers."""

    def __init__(self, target: Endpoint, client_kind: str, workers: int, retries: int, timeout_s: float,
                 history: HistoryWriter) -> None:
        self.target, self.client_kind, self.workers = target, client_kind, workers
        self.retries, self.timeout_s, self.history = retries, timeout_s, history
        self.client: DynamoClient | None = None
        self._stack = contextlib.AsyncExitStack()
        self._runners: dict[str, tuple[StepRunner, SaturationSampler]] = {}

    async def __aenter__(self) -> InProcess:
        self.client = await self._stack.enter_async_context(
            make_client(self.client_kind, self.target, pool=self.workers, retries=self.retries,
                        timeout_s=self.timeout_s))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def warm_up(self, workload: Workload) -> int:
        assert self.client is not None, "use `async with InProcess(...)`"
        with HistoryWriter(Path(os.devnull)) as nowhere:
            runner = StepRunner(self.client, workload, nowhere, workload.config.workers, Pace())
            await runner.run()
        return runner.ops

    def begin(self, workload: Workload, spec: str, pace: Pace, on_step: Callable[[], None] | None,
              gate: Gate | None) -> None:
        assert self.client is not None, "use `async with InProcess(...)`"
        sampler = SaturationSampler()
        sampler.start()
        runner = StepRunner(self.client, workload, self.history, self.workers, pace, on_step, gate=gate)
        self._runners[workload.name] = (runner, sampler)

    async def race(self, workload: Workload, rounds: Sequence[int] | None = None) -> None:
        runner, _ = self._runners[workload.name]
        await runner.run(None if rounds is None else
                         (step for round_ in rounds for step in workload.round_steps(round_)))

    def end(self, workload: Workload) -> dict[str, Any]:
        runner, sampler = self._runners.pop(workload.name)
        return sampler.stop(ops=runner.ops)


class _Pooled(Executor):
    """An executor whose workers live in a pool elsewhere (child processes, Ray shards): what it remembers
    of each workload between ``begin`` and ``end``, and the job it sends the pool for each race."""

    rate: float | None
    _jobs: dict[str, dict[str, Any]]

    def begin(self, workload: Workload, spec: str, pace: Pace, on_step: Callable[[], None] | None,
              gate: Gate | None) -> None:
        self._jobs[workload.name] = {"spec": spec, "pace": pace, "on_step": on_step, "gate": gate, "reports": [],
                                     "driver_cpu": time.process_time()}

    def _job(self, workload: Workload, rounds: Sequence[int] | None) -> Any:
        """The ``processes.Job`` of one race call: ``rounds`` of the workload begun (None: its planned ones)."""
        from harness.engine.processes import Job

        state = self._jobs[workload.name]
        return Job(state["spec"], workload.table, workload.config, rate=self.rate,
                   rounds=None if rounds is None else tuple(rounds))


class Processes(_Pooled):
    """The workers of every race spread over P spawned processes (see ``harness.engine.processes``)."""

    def __init__(self, target: Endpoint, client_kind: str, workers: int, processes: int, retries: int,
                 timeout_s: float, rate: float | None, run_dir: Path, history: HistoryWriter,
                 meta: dict[str, Any]) -> None:
        from harness.engine.processes import child_configs

        self.configs = child_configs(target, client_kind, workers, processes, retries, timeout_s, run_dir)
        self.rate, self.history, self.meta = rate, history, meta
        self._stack = contextlib.AsyncExitStack()
        self.pool: Any = None
        self._jobs: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> Processes:
        from harness.engine.processes import ProcessPool, merge_into_run

        paths = [Path(config.history_path) for config in self.configs]
        # Exits run last-in first-out: the children are gone before their histories are merged.
        self._stack.callback(merge_into_run, self.meta, paths, self.history)
        try:
            self.pool = await self._stack.enter_async_context(ProcessPool(self.configs))
        except BaseException:
            await self._stack.aclose()
            raise
        self.meta["processes"] = {"count": len(self.configs), "pids": self.pool.pids}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(*exc)

    async def warm_up(self, workload: Workload) -> int:
        from harness.engine.processes import Job

        job = Job(workload.name, workload.table, workload.config, recorded=False)
        reports = await self.pool.run_job(job, sum(1 for _ in workload.steps()), Pace(), None)
        return sum(r["ops"] for r in reports)

    async def race(self, workload: Workload, rounds: Sequence[int] | None = None) -> None:
        state = self._jobs[workload.name]
        job = self._job(workload, rounds)
        races = sum(1 for _ in job.steps(workload))
        state["reports"].append(await self.pool.run_job(job, races, state["pace"], state["on_step"], state["gate"]))

    def end(self, workload: Workload) -> dict[str, Any]:
        from harness.engine.processes import combine_reports, sum_job_reports

        state = self._jobs.pop(workload.name)
        return combine_reports(sum_job_reports(state["reports"]), time.process_time() - state["driver_cpu"])


RAY_CONNECT_PROBE_S = 5.0  # a cluster across a network accepts a TCP connection well within this


def check_ray_address(address: str | None) -> None:
    """Refuse, in one line and before anything starts, a ``--ray-address HOST:PORT`` where nothing accepts a TCP
    connection: against such a port ray.init retries for minutes, printing Ray's own warnings (127.0.0.1:1:
    still retrying after 120 s, measured). ``auto`` and ``local`` are left to Ray."""
    if address in (None, "auto", "local"):
        return
    host, port = ray_host_port(address)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_PROBE_S):
            pass
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: nothing accepts a connection on {host}:{port} "
                         f"({type(exc).__name__})") from None


class RayShards(_Pooled):
    """The workers of every race spread over N Ray actors (see ``harness.engine.ray_shards``)."""

    def __init__(self, target: Endpoint, client_kind: str, workers: int, shards: int, address: str | None,
                 retries: int, timeout_s: float, rate: float | None, run_dir: Path, history: HistoryWriter,
                 meta: dict[str, Any]) -> None:
        from harness.engine.ray_shards import shard_configs

        self.configs = shard_configs(target, client_kind, workers, shards, retries, timeout_s)
        self.target = target
        self.address, self.rate, self.run_dir, self.history, self.meta = address, rate, run_dir, history, meta
        self.pool: Any = None
        self._jobs: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> RayShards:
        from harness.engine.ray_shards import ShardPool, spool_path

        self.pool = ShardPool(self.configs, self.address, self.run_dir)
        try:
            await self.pool.__aenter__()
        except BaseException:
            for k in range(len(self.configs)):  # nothing raced: no spool to merge
                spool_path(self.run_dir, k).unlink(missing_ok=True)
            raise
        self.meta["shards"] = self.pool.describe()
        self.meta["ray"] = {"address": self.address or "local", "ready_s": round(self.pool.ready_s, 2),
                            "lead_ms": round(self.pool.lead_ns / 1e6, 3),
                            "temp_dir": str(self.pool.temp_dir) if self.pool.temp_dir else None}
        write_json(self.run_dir / "run.json", self.meta)  # where the shards run, before the first race
        try:
            self._check_reach()
        except BaseException:
            await self.__aexit__(None, None, None)  # not called when __aenter__ raises
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        from harness.engine.ray_shards import merge_shards, spool_path

        try:
            await self.pool.__aexit__(*exc)
        finally:
            self.meta["shards"] = self.pool.describe()
            self.meta["ray"]["lost"] = [lost.to_json() for lost in self.pool.lost]
            paths = [spool_path(self.run_dir, k) for k in range(len(self.configs))]
            offsets = [self.pool.clock(k).offset_ns if k < len(self.pool.clocks) else 0
                       for k in range(len(self.configs))]
            self.meta["ray"]["bursts"] = merge_shards(paths, offsets, self.history).summary()
            for path in paths:
                path.unlink(missing_ok=True)

    def _hosts(self) -> list[str]:
        return sorted({shard["host"] for shard in self.pool.describe() if shard.get("host")})

    def _check_reach(self) -> None:
        """Shards on other hosts cannot reach a loopback endpoint (a managed server, the fault proxy): refuse that
        in one line rather than race with every request failing to connect."""
        host = urlsplit(self.target.url or "").hostname or ""
        away = [h for h in self._hosts() if h != socket.gethostname()]
        if host in LOOPBACK_HOSTS and away:
            raise UsageError(f"--executor ray: shards on {', '.join(away)} cannot reach {self.target.url} (loopback "
                             "on this machine: a managed backend or --fault proxy); give an --endpoint-url every node "
                             "reaches, or --backend aws")

    def begin(self, workload: Workload, spec: str, pace: Pace, on_step: Callable[[], None] | None,
              gate: Gate | None) -> None:
        hosts = self._hosts()
        if workload.one_clock and len(hosts) > 1:
            raise UsageError(f"--workload {workload.name} needs every worker on one machine (its requests carry "
                             f"times of one machine's monotonic clock); the shards run on {', '.join(hosts)}")
        super().begin(workload, spec, pace, on_step, gate)

    async def warm_up(self, workload: Workload) -> int:
        from harness.engine.processes import Job

        job = Job(workload.name, workload.table, workload.config, recorded=False)
        reports = await self.pool.run_job(job, workload, Pace(), None)
        return sum(r["ops"] for r in reports)

    async def race(self, workload: Workload, rounds: Sequence[int] | None = None) -> None:
        state = self._jobs[workload.name]
        job = self._job(workload, rounds)
        reports = await self.pool.run_job(job, workload, state["pace"], state["on_step"], state["gate"])
        if reports:
            state["reports"].append(reports)
        if self.pool.lost:
            state["pace"].stop()  # a lost shard ends the racing, as a used-up --duration

    def end(self, workload: Workload) -> dict[str, Any]:
        from harness.engine.processes import combine_reports, sum_job_reports

        state = self._jobs.pop(workload.name)
        if not state["reports"]:
            return {"ops": 0, "note": "no shard finished a race", "processes": []}
        # The shards alive through every job of the workload (one lost mid-run has no report of its last job).
        kept = set.intersection(*({r["shard"] for r in job} for job in state["reports"]))
        reports = sum_job_reports([[r for r in job if r["shard"] in kept] for job in state["reports"]])
        return combine_reports(reports, time.process_time() - state["driver_cpu"])
