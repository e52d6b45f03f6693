"""Executors: where a workload's races run. The engine (``harness.engine.run``) is the one run loop — backend,
tables, seeding, faults, warm-up, rounds until every fault fired, the final read, the verdict — and it
asks an executor to race a workload's steps on the run's workers; history events come back into the
run's ``history.jsonl``. Only the transport differs, as with Locust's Local/Master/Worker runners:

* :class:`InProcess` — every worker is a task of this process's event loop (``StepRunner``);
* :class:`Processes` — the workers of every race spread over P spawned processes released by one
  shared gun (``harness.engine.processes``), their histories merged by the system-wide monotonic clock.

The interface is what a cluster executor plugs into: workers that live elsewhere (``begin``/``race``
say what to race, never how), a gate the engine can hold (a crashed server restarting), histories that
come back as events, and a saturation report per workload.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from harness.backends.endpoint import Endpoint
from harness.clients.choose import make_client
from harness.clients.sdk import DynamoClient
from harness.engine.runner import Pace, StepRunner
from harness.engine.saturation import SaturationSampler
from harness.history.events import HistoryWriter
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


class Processes(Executor):
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

    def begin(self, workload: Workload, spec: str, pace: Pace, on_step: Callable[[], None] | None,
              gate: Gate | None) -> None:
        self._jobs[workload.name] = {"spec": spec, "pace": pace, "on_step": on_step, "gate": gate, "reports": [],
                                     "parent_cpu": time.process_time()}

    async def race(self, workload: Workload, rounds: Sequence[int] | None = None) -> None:
        from harness.engine.processes import Job

        state = self._jobs[workload.name]
        job = Job(state["spec"], workload.table, workload.config, rate=self.rate,
                  rounds=None if rounds is None else tuple(rounds))
        races = sum(1 for _ in job.steps(workload))
        state["reports"].append(await self.pool.run_job(job, races, state["pace"], state["on_step"], state["gate"]))

    def end(self, workload: Workload) -> dict[str, Any]:
        from harness.engine.processes import combine_reports, sum_job_reports

        state = self._jobs.pop(workload.name)
        return combine_reports(sum_job_reports(state["reports"]), time.process_time() - state["parent_cpu"])
