"""Races spread over several OS processes: ``stress run --processes P`` (the transport of
``harness.engine.executor.Processes``).

The parent (the ``stress run`` process, running the engine) keeps everything that happens once: the
backend, tables, ``setup``, faults, the final read, table deletion and the verdict. P children,
started with ``spawn`` (no event loop, thread or socket is inherited), each open their own client and
event loop and run the workers ``k, k+P, k+2P, …`` of every race, streaming their events to ``history.<k>.jsonl``.

A race, over one socketpair per child (the parent's event loop waits on them, it never blocks) and
a gun pipe shared by all children:

1. every child builds and prepares its share of the requests, parks its worker tasks on its own
   in-process gun and sends ``ready`` on its socket;
2. once all P are ready the parent writes one byte to the gun pipe every child polls: a single
   write wakes them all in one system call. (Writing ``go`` to P sockets in turn lets the first
   child woken preempt the parent on a 2-core machine before the others are told: a start skew of
   milliseconds instead of tens of microseconds.) Children never read the gun; two pipes alternate
   so the parent drains race N's byte once every child has answered, before it reuses that pipe
   for race N+2. Once ``--duration`` is used up the parent sends ``stop`` on the sockets instead;
3. each child's loop fires its in-process gun and, for a workload whose requests do not depend on
   outcomes, prepares the next race while this one flies;
3. a child's next ``ready`` (or its final ``done``) also says its part of the race finished: the next
   race starts when every child finished, as in one process.

Workloads that learn from outcomes (role-update's beliefs) only see their own workers' outcomes,
which is all they use: a belief belongs to one (worker, key).

At the end the parent merges the children's histories into ``history.jsonl`` by time (each file is
in time order already, and ``monotonic_ns`` is system-wide), re-indexing the events. An invoke and
its completion always come from the same child and the merge never reorders one child's events, so
Jepsen's pairing by process holds. The per-child files are removed once merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

import orjson

from harness.backends.endpoint import Endpoint
from harness.backends.process import die_with_parent
from harness.checker.percentiles import percentiles
from harness.clients.choose import make_client
from harness.clients.sdk import DynamoClient
from harness.engine.runner import Pace, StepRunner, event_loop_factory
from harness.engine.saturation import SaturationSampler
from harness.errors import UsageError
from harness.history.events import INVOKE, HistoryWriter
from workloads import get_workload
from workloads.base import Step, Workload, WorkloadConfig

AnyRunner = TypeVar("AnyRunner", bound=StepRunner)  # a child's or a shard's runner (race_share hands it back)

START_METHOD = "spawn"  # the parent runs an event loop and threads: forking it is unsafe
STOP = "stop"
GUNS = 2  # gun pipes, alternating between races
MAX_JOBS = 10_000  # a child serves at most this many workloads (bounds its loop)
EXIT_WAIT_S = 10.0  # a child that has not exited this long after "exit" is terminated


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ChildConfig:
    """What one child needs for the whole run (plain and picklable)."""

    index: int
    processes: int
    workers: int  # of the run: sizes the child's connection pool
    endpoint: Endpoint  # without the managed server handle
    client_kind: str
    retries: int
    timeout: float
    history_path: str
    parent_pid: int


@dataclass(frozen=True)
class Job:
    """One workload's races, sent to every child."""

    spec: str  # a built-in name or module:Class
    table: str
    config: WorkloadConfig
    recorded: bool = True  # False: the warm-up, written nowhere
    rate: float | None = None  # the run's cap; each child takes rate / P
    rounds: tuple[int, ...] | None = None  # the rounds to race (None: the planned ones); later jobs add rounds

    def steps(self, workload: Workload) -> Iterator[Step]:
        """The races of this job."""
        if self.rounds is None:
            return workload.steps()
        return (step for round_ in self.rounds for step in workload.round_steps(round_))


def worker_ids(index: int, processes: int, workers: int) -> list[int]:
    """The workers child ``index`` of ``processes`` runs: ``index, index+P, …`` below ``workers``."""
    return list(range(index, workers, processes))


def child_configs(target: Endpoint, client_kind: str, workers: int, processes: int, retries: int,
                  timeout_s: float, run_dir: Path) -> list[ChildConfig]:
    """One config per child; histories go to ``history.<k>.jsonl`` in the run directory. ``target`` is
    where the workers' requests go (the fault proxy when there is one)."""
    plain = replace(target, server=None)
    return [ChildConfig(k, processes, workers, plain, client_kind, retries, timeout_s,
                        str(child_history_path(run_dir, k)), os.getpid())
            for k in range(processes)]


def child_history_path(run_dir: Path, index: int) -> Path:
    """Where child ``index`` streams its events."""
    return run_dir / f"history.{index}.jsonl"


# --------------------------------------------------------------------------- the socket between parent and child


class Channel:
    """A multiprocessing Connection whose receive waits inside the event loop (never blocks it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, obj: Any) -> None:
        """Send one small pickled message (it fits the socket buffer: never blocks)."""
        self.conn.send(obj)

    async def recv(self) -> Any:
        """The next message; raises EOFError when the other side is gone."""
        if not self.conn.poll():
            await first_readable([self.conn.fileno()])
        return self.conn.recv()

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self.conn.close()


async def first_readable(fds: Sequence[int]) -> int:
    """Wait in the event loop until one of ``fds`` is readable (or at EOF); returns that fd."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[int] = loop.create_future()
    for fd in fds:
        loop.add_reader(fd, _resolve, ready, fd)
    try:
        return await ready
    finally:
        for fd in fds:
            loop.remove_reader(fd)


def _resolve(future: asyncio.Future[int], fd: int) -> None:
    # done() alone is not enough: Ctrl-C's handler can cancel the future between two bytecodes.
    with contextlib.suppress(asyncio.InvalidStateError):
        if not future.done():
            future.set_result(fd)


# --------------------------------------------------------------------------- child side


def child_main(config: ChildConfig, conn: Connection, guns: Sequence[Connection]) -> None:
    """Entry point of a child process: serve jobs until told to exit."""
    die_with_parent(config.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the children
    channel = Channel(conn)
    try:
        with HistoryWriter(Path(config.history_path)) as history, asyncio.Runner(
            loop_factory=event_loop_factory()
        ) as runner:
            runner.run(_serve(config, channel, guns, history))
    except Exception as exc:
        with contextlib.suppress(OSError):
            channel.send(("error", f"{type(exc).__name__}: {exc}"))
        sys.exit(1)


async def _serve(config: ChildConfig, channel: Channel, guns: Sequence[Connection],
                 history: HistoryWriter) -> None:
    pool = max(len(worker_ids(config.index, config.processes, config.workers)), 1)
    # One instance per workload table for the whole run: extra rounds (a later job) continue what its
    # workers learnt (role-update's beliefs), as in one process.
    instances: dict[tuple[str, str], Workload] = {}
    async with make_client(config.client_kind, config.endpoint, pool=pool, retries=config.retries,
                           timeout_s=config.timeout) as client:
        channel.send(("hello", os.getpid()))
        for _ in range(MAX_JOBS):
            job = await channel.recv()
            if job is None:
                return
            workload = instances.setdefault((job.spec, job.table), get_workload(job.spec)(job.config, job.table))
            channel.send(("done", await run_job(config, job, workload, client, history, channel, guns)))


async def run_job(config: ChildConfig, job: Job, workload: Workload, client: DynamoClient, history: HistoryWriter,
                  channel: Channel, guns: Sequence[Connection]) -> dict[str, Any]:
    """This child's share of one job's races; returns its client report (CPU, loop lag, ops)."""
    ids = worker_ids(config.index, config.processes, job.config.workers)
    report, _ = await race_share(job, workload, history, config.processes,
                                 lambda sink, pace: ChildRunner(client, workload, sink, ids, pace, channel, guns))
    return {**report, "process": config.index, "pid": os.getpid(), "workers": len(ids)}


async def race_share(job: Job, workload: Workload, history: HistoryWriter, shares: int,
                     make_runner: Callable[[HistoryWriter, Pace], AnyRunner]) -> tuple[dict[str, Any], AnyRunner]:
    """Race one share (of ``shares``) of ``job``'s workers with the runner ``make_runner(sink, pace)`` builds,
    recording into ``history`` (nowhere for a warm-up), its ``--rate`` split evenly; returns the client's
    saturation report (``races`` included) and the runner. The one loop of a child process and a Ray shard."""
    pace = Pace(rate=job.rate / shares if job.rate else None)
    with contextlib.ExitStack() as stack:
        sink = history if job.recorded else stack.enter_context(HistoryWriter(Path(os.devnull)))
        runner = make_runner(sink, pace)
        sampler = SaturationSampler()
        sampler.start()
        try:
            races = await runner.run(job.steps(workload))
        finally:
            report = sampler.stop(ops=runner.ops)
    return {**report, "races": races}, runner


class ChildRunner(StepRunner):
    """The StepRunner of some of the workers, whose races start at the parent's shared gun."""

    def __init__(self, client: DynamoClient, workload: Workload, history: HistoryWriter, ids: Sequence[int],
                 pace: Pace, channel: Channel, guns: Sequence[Connection]) -> None:
        super().__init__(client, workload, history, ids, pace)
        self.channel = channel
        self.guns = [gun.fileno() for gun in guns]

    async def release(self, number: int) -> bool:
        """Tell the parent this child is armed; True when the gun fires, False on ``stop``."""
        self.channel.send(("ready", None))
        gun = self.guns[number % GUNS]
        if await first_readable([gun, self.channel.conn.fileno()]) == gun:
            return True
        return await self.channel.recv() != STOP


# --------------------------------------------------------------------------- parent side


class ChildFailed(UsageError):
    """A child process died or reported an error."""


class ProcessPool:
    """The children of one run; the parent drives their races."""

    def __init__(self, configs: list[ChildConfig]) -> None:
        self.configs = configs
        self.procs: list[BaseProcess] = []
        self.channels: list[Channel] = []
        self.pids: list[int] = []
        self.ctx = multiprocessing.get_context(START_METHOD)
        self.guns: list[tuple[Connection, Connection]] = []  # (reader, writer)

    async def __aenter__(self) -> ProcessPool:
        try:
            self.guns = [self.ctx.Pipe(duplex=False) for _ in range(GUNS)]
            for config in self.configs:
                self._start(config)
            self.pids = [pid for _, pid in await self._gather()]
        except BaseException:
            self.kill()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                await self._exit()
        finally:
            self.kill()

    def _start(self, config: ChildConfig) -> None:
        ours, theirs = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=child_main, args=(config, theirs, [reader for reader, _ in self.guns]),
                                name=f"stress-worker-{config.index}", daemon=True)
        with _sigint_ignored():  # inherited through exec: the terminal's Ctrl-C is the parent's alone
            proc.start()
        theirs.close()
        self.procs.append(proc)
        self.channels.append(Channel(ours))

    async def run_job(self, job: Job, races: int, pace: Pace, on_step: Callable[[], None] | None,
                      gate: Callable[[], Awaitable[None]] | None = None) -> list[dict]:
        """Drive one job's ``races`` races across the children; returns each child's report. ``gate`` is
        awaited before every gun (the crash nemesis holds races while the server restarts)."""
        for channel in self.channels:
            channel.send(job)
        fired: Connection | None = None  # the gun whose byte is still in the pipe
        for race in range(races + 2):
            replies = await self._gather()
            if fired is not None:
                fired.recv_bytes()  # every child has answered, so every child saw it: drain
                if on_step:
                    on_step()
            tags = {tag for tag, _ in replies}
            if tags == {"done"}:
                return [payload for _, payload in replies]
            if tags != {"ready"}:
                raise ChildFailed(f"worker processes out of step: {sorted(tags)}")
            if gate and not pace.expired():
                await gate()
            fired = None if pace.expired() else self._fire(race)
            if fired is None:
                for channel in self.channels:
                    channel.send(STOP)
        raise ChildFailed(f"worker processes ran more than the {races} races of {job.spec}")

    def _fire(self, race: int) -> Connection:
        """One write that wakes every child at once; returns the pipe's reader (to drain later)."""
        reader, writer = self.guns[race % GUNS]
        writer.send_bytes(b"g")
        return reader

    async def _gather(self) -> list[tuple[str, Any]]:
        replies = []
        for k, channel in enumerate(self.channels):
            try:
                tag, payload = await channel.recv()
            except (EOFError, OSError):
                raise ChildFailed(self._death(k)) from None
            if tag == "error":
                raise ChildFailed(f"worker process {k} failed: {payload}")
            replies.append((tag, payload))
        return replies

    def _death(self, k: int) -> str:
        proc = self.procs[k]
        proc.join(1.0)
        return f"worker process {k} (pid {proc.pid}) died with exit code {proc.exitcode}"

    async def _exit(self) -> None:
        for channel in self.channels:
            with contextlib.suppress(OSError):
                channel.send(None)
        deadline = time.monotonic() + EXIT_WAIT_S
        while any(proc.is_alive() for proc in self.procs) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def kill(self) -> None:
        """Terminate (then kill) every child still running and close the sockets; idempotent."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
        for channel in self.channels:
            channel.close()
        for reader, writer in self.guns:
            reader.close()
            writer.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to inherit
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- reports, in the parent


def sum_job_reports(jobs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each child's reports of several jobs of one workload (its planned rounds, then extra ones) as one
    report per child: counts and times summed, loop lag maxed."""
    if len(jobs) == 1:
        return jobs[0]
    summed = []
    for per_child in zip(*jobs, strict=True):
        first = dict(per_child[0])
        for key in ("ops", "cpu_s", "wall_s", "cpu_user_s", "cpu_system_s", "races"):
            first[key] = sum(r.get(key, 0) for r in per_child)
        first["loop_lag_ms"] = {q: max(r["loop_lag_ms"][q] for r in per_child) for q in ("p50", "p99", "max")}
        first["max_rss_mb"] = max(r["max_rss_mb"] for r in per_child)
        first["harness_bound"] = any(r.get("harness_bound") for r in per_child)
        first["note"] = next((r["note"] for r in per_child if r.get("note")), None)
        summed.append(first)
    return summed


def combine_reports(reports: list[dict[str, Any]], parent_cpu_s: float = 0.0) -> dict[str, Any]:
    """The children's saturation reports as one: CPU and ops summed, lag and wall time maxed.

    ``cpu_util`` is in cores (it can exceed 1); each child's own report, with its note, is kept
    under ``processes``.
    """
    ops = sum(r["ops"] for r in reports)
    cpu_s = sum(r["cpu_s"] for r in reports)
    wall_s = max((r["wall_s"] for r in reports), default=0.0)
    notes = [f"process {r['process']}: {r['note']}" for r in reports if r.get("note")]
    return {
        "ops": ops, "wall_s": wall_s, "cpu_s": round(cpu_s, 3),
        "client_cpu_ms_per_op": round(cpu_s * 1000.0 / ops, 4) if ops else None,
        "cpu_util": round(cpu_s / wall_s, 3) if wall_s > 0 else 0.0,
        "loop_lag_ms": {q: max(r["loop_lag_ms"][q] for r in reports) for q in ("p50", "p99", "max")},
        "cpu_user_s": round(sum(r["cpu_user_s"] for r in reports), 3),
        "cpu_system_s": round(sum(r["cpu_system_s"] for r in reports), 3),
        "max_rss_mb": round(sum(r["max_rss_mb"] for r in reports), 1),
        "parent_cpu_s": round(parent_cpu_s, 3),
        "harness_bound": any(r.get("harness_bound") for r in reports),
        "note": "; ".join(notes) or None,
        "processes": reports,
    }


# --------------------------------------------------------------------------- merging the histories


@dataclass
class RaceStarts:
    """Per race (workload, key, round): each child's first invoke and the race's last invoke."""

    firsts: dict[tuple[Any, ...], dict[int, int]] = field(default_factory=dict)
    lasts: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def add(self, child: int, event: dict[str, Any]) -> None:
        """Account one merged event (only invokes count)."""
        if event.get("type") != INVOKE:
            return
        race = (event.get("workload"), event.get("key"), event.get("round"))
        self.firsts.setdefault(race, {}).setdefault(child, event["time"])
        self.lasts[race] = max(self.lasts.get(race, event["time"]), event["time"])

    def summary(self) -> dict[str, Any]:
        """``start_skew_ms``: first invoke of the earliest child to that of the latest, per race;
        ``invoke_span_ms``: first to last invoke of a race across all processes."""
        skews = [max(f.values()) - min(f.values()) for f in self.firsts.values() if len(f) > 1]
        spans = [self.lasts[race] - min(f.values()) for race, f in self.firsts.items()]
        return {"races": len(self.firsts), "start_skew_ms": _ms_stats(skews), "invoke_span_ms": _ms_stats(spans)}


def _ms_stats(values_ns: list[int]) -> dict[str, float | None]:
    found = percentiles((v / 1e6 for v in values_ns), (50, 99))
    return {q: round(found[q], 3) if found else None for q in ("p50", "p99", "max")}


def read_child_events(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Events of a child's history; a last line cut short by a killed child is dropped."""
    for line in lines:
        if not line.endswith(b"\n"):
            return
        if line.strip():
            yield orjson.loads(line)


def merge_events(streams: Sequence[Iterable[dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(child, event) of every stream, merged by time.

    Each stream is in time order (a child stamps and writes an event in one synchronous step);
    ties go to the lower child, and no stream is ever reordered, so an invoke still precedes its
    completion.
    """
    tagged = [_tag(k, stream) for k, stream in enumerate(streams)]
    return heapq.merge(*tagged, key=lambda item: item[1]["time"])


def _tag(child: int, stream: Iterable[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    for event in stream:
        yield child, event


def merge_histories(paths: Sequence[Path], out: HistoryWriter) -> RaceStarts:
    """Merge child history files into ``out`` by time, re-indexing events; returns the race starts."""
    starts = RaceStarts()
    with contextlib.ExitStack() as stack:
        streams = [read_child_events(stack.enter_context(path.open("rb"))) for path in paths if path.exists()]
        for child, event in merge_events(streams):
            event.pop("index", None)
            starts.add(child, event)
            out.append(event)
    return starts


def merge_into_run(meta: dict[str, Any], paths: Sequence[Path], history: HistoryWriter) -> None:
    """Merge the children's histories into the run's; remove them only once merged."""
    try:
        starts = merge_histories(paths, history)
    except (OSError, ValueError) as exc:
        kept = ", ".join(path.name for path in paths if path.exists())
        print(f"stress: warning: merging the worker histories failed ({type(exc).__name__}: {exc}); "
              f"kept {kept}", file=sys.stderr)
        return
    meta.setdefault("processes", {"count": len(paths)}).update(starts.summary())
    for path in paths:
        path.unlink(missing_ok=True)
