"""Races spread over Ray actors, on one machine or a cluster: the transport of
``harness.engine.executor.RayShards`` (``stress run --executor ray --shards N``).

The same idea as ``harness.engine.processes`` with Ray as the transport. The driver (the ``stress run``
process) keeps everything that happens once: backend, tables, seeding, faults, the final read, cleanup,
the verdict. N async actors (*shards*), placed by a SPREAD placement group (one CPU each, over as many
nodes as the cluster has), each open their own client (``harness.clients.choose.make_client``) and run
the workers ``k, k+N, k+2N, …`` of every race.

No pipe is shared between machines, so a race starts at an absolute time instead:

1. before the first race (and after the last) the driver measures each shard's clock offset with UDP probes
   of a small echo the shard opens (``ClockEcho``; Ray calls when none answers), see ``harness.history.clocks``;
2. per race, every shard prepares its share of the requests and answers ``ready``;
3. the driver picks a start time T0 on its own clock a little ahead (``lead_ns``: a few of the slowest
   round trips, so the message reaches every shard in time) and sends each shard T0 on the shard's own
   clock; each shard sleeps, then spins, until T0, and fires its in-process gun;
4. a shard's next ``ready`` (or ``done``) says its part of the race finished.

Histories stream back: each shard buffers its events (shard clock, with a ``shard`` field) and hands
them over, as numbered chunks, with each reply, and every ``DRAIN_EVERY_S`` while a race flies (a
sustained round); the driver appends them in order to ``history.shard-<k>.jsonl`` in the run directory.
At the end the driver merges those files into ``history.jsonl`` on its own time base, by time,
re-indexed; the spool files are removed once merged.

A shard that dies (its node lost, its process killed) ends the racing like a used-up ``--duration``:
the others finish their race and stop, the history holds every event drained from the dead shard, and
``run.json`` names the shard and the keys whose last ops were never drained, which ``evaluate`` turns
into an ``unknown`` verdict rather than a violation its missing ops could explain.

Only this module imports Ray; the plain install never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import ray
from ray.exceptions import RayError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from harness.backends.endpoint import LOOPBACK_HOSTS, Endpoint
from harness.clients.choose import make_client
from harness.engine.options import ray_host_port
from harness.engine.processes import Job, _ms_stats, race_share, read_child_events, worker_ids
from harness.engine.runner import Pace, StepRunner
from harness.errors import UsageError
from harness.history.clocks import ClockEstimate, estimate_offset, over_run
from harness.history.events import INVOKE, HistoryWriter
from workloads import get_workload
from workloads.base import Workload

LOCAL = "local"
CLOCK_ROUNDS = 30  # round trips per clock estimate: the best of 30 is within ~2x of the floor on loopback
LEAD_RTTS = 4  # T0 is this many of the slowest best Ray round trips ahead, and at least MIN_LEAD_NS
MIN_LEAD_NS = 2_000_000
SPIN_NS = 1_000_000  # the last millisecond before T0 is spun, not slept (asyncio's timer is ~1 ms coarse)
DRAIN_EVERY_S = 0.5
PROBE_BYTES, PROBE_TIMEOUT_S = 4, 0.05  # a clock probe's nonce; a probe unanswered this long is lost
PLACEMENT_TIMEOUT_S = 60.0
LOCAL_OBJECT_STORE = 80 * 1024 * 1024  # the shards move small messages: Ray's 30 %-of-RAM default is waste


@dataclass(frozen=True)
class ShardConfig:
    """What one shard needs for the whole run (plain and picklable)."""

    index: int
    shards: int
    workers: int
    endpoint: Endpoint  # without the managed server handle
    client_kind: str
    retries: int
    timeout: float


def shard_configs(target: Endpoint, client_kind: str, workers: int, shards: int, retries: int,
                  timeout_s: float) -> list[ShardConfig]:
    """One config per shard; ``target`` is where the workers' requests go (the fault proxy when there is one)."""
    plain = replace(target, server=None)
    return [ShardConfig(k, shards, workers, plain, client_kind, retries, timeout_s) for k in range(shards)]


def spool_path(run_dir: Path, index: int) -> Path:
    """Where the driver appends what it drains from shard ``index``."""
    return run_dir / f"history.shard-{index}.jsonl"


# --------------------------------------------------------------------------- shard side (inside an actor)


class BufferedHistory(HistoryWriter):
    """A HistoryWriter into memory, every event tagged with its shard, drained by the driver in chunks."""

    def __init__(self, shard: int) -> None:
        self.path = Path("<memory>")
        self.shard = shard
        self._buffer = bytearray()
        self._index = 0
        self._seq = 0

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Buffer one event (its index is the shard's own; the merge re-indexes)."""
        event = {"index": self._index, **event, "shard": self.shard}
        self._index += 1
        self._buffer += orjson.dumps(event, default=_json_default) + b"\n"
        return event

    def drain(self) -> tuple[int, bytes]:
        """Everything buffered since the last drain, numbered (the driver writes the chunks in this order)."""
        chunk, self._buffer = bytes(self._buffer), bytearray()
        self._seq += 1
        return self._seq - 1, chunk

    def close(self) -> None:
        """Nothing to close."""


def _json_default(obj: Any) -> Any:
    from harness.history.events import _json_default as history_default

    return history_default(obj)


class ShardRunner(StepRunner):
    """The StepRunner of one shard's workers, whose races start at the driver's T0."""

    def __init__(self, *args: Any, replies: asyncio.Queue, starts: asyncio.Queue, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replies, self.starts = replies, starts
        self.late_ns: list[int] = []

    async def release(self, number: int) -> bool:
        """Tell the driver this shard is armed; wait for T0 (shard clock) and go, or stop on None."""
        await self.replies.put(("ready", None))
        t0 = await self.starts.get()
        if t0 is None:
            return False
        delay_ns = t0 - time.monotonic_ns()
        if delay_ns > SPIN_NS:
            await asyncio.sleep((delay_ns - SPIN_NS) / 1e9)
        while time.monotonic_ns() < t0:
            pass
        self.late_ns.append(time.monotonic_ns() - t0)
        return True


class ClockEcho(asyncio.DatagramProtocol):
    """Answers each datagram with itself and this shard's clock: the driver's clock probe. A bare UDP round trip
    takes tens of microseconds on loopback against ~1 ms for a Ray actor call (measured here), and the error
    bound ε is half the best round trip."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data[:PROBE_BYTES] + time.monotonic_ns().to_bytes(8, "big"), addr)  # type: ignore[attr-defined]


def udp_samples(addr: Sequence[Any], rounds: int) -> list[tuple[int, int, int]]:
    """(send, shard clock, receive) of up to ``rounds`` UDP probes of a shard's ClockEcho (lost ones skipped)."""
    samples = []
    with socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_S)
        sock.connect(tuple(addr))
        for n in range(rounds):
            nonce = n.to_bytes(PROBE_BYTES, "big")
            send = time.monotonic_ns()
            try:
                sock.send(nonce)
                data = sock.recv(64)
            except OSError:  # a timeout or an unreachable port: that probe is lost
                continue
            receive = time.monotonic_ns()
            if data[:PROBE_BYTES] == nonce and len(data) == PROBE_BYTES + 8:
                samples.append((send, int.from_bytes(data[PROBE_BYTES:], "big"), receive))
    return samples


class Shard:
    """One shard: an async Ray actor holding a client and its share of the workers for the whole run."""

    def __init__(self, config: ShardConfig) -> None:
        self.config = config
        self.history = BufferedHistory(config.index)
        self._stack = contextlib.AsyncExitStack()
        self.client: Any = None
        self.instances: dict[tuple[str, str], Workload] = {}
        self.replies: asyncio.Queue = asyncio.Queue()
        self.starts: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def open(self) -> dict[str, Any]:
        """Open the client; returns where this shard runs."""
        logging.getLogger("botocore").setLevel(logging.WARNING)
        pool = max(len(worker_ids(self.config.index, self.config.shards, self.config.workers)), 1)
        self.client = await self._stack.enter_async_context(
            make_client(self.config.client_kind, self.config.endpoint, pool=pool, retries=self.config.retries,
                        timeout_s=self.config.timeout))
        loop = asyncio.get_running_loop()
        clock_addr = None
        node_id = ray.get_runtime_context().get_node_id()
        # The address the cluster knows this node by (127.0.0.1 for a Ray on loopback): what the driver can reach.
        node_ip = next((n["NodeManagerAddress"] for n in ray.nodes() if n.get("NodeID") == node_id), None)
        with contextlib.suppress(OSError, TypeError):
            transport, _ = await loop.create_datagram_endpoint(ClockEcho, local_addr=(node_ip, 0))
            self._stack.callback(transport.close)
            clock_addr = list(transport.get_extra_info("sockname")[:2])
        return {"shard": self.config.index, "pid": os.getpid(), "host": socket.gethostname(),
                "node_id": node_id, "clock_addr": clock_addr}

    def clock(self) -> int:
        """This shard's clock (the driver times the round trip)."""
        return time.monotonic_ns()

    async def begin(self, job: Job) -> None:
        """Start racing ``job`` (in a task of the actor's loop): answers come through ``reply``."""
        key = (job.spec, job.table)
        # One instance per workload table for the run: extra rounds continue what its workers learnt.
        workload = self.instances.setdefault(key, get_workload(job.spec)(job.config, job.table))
        self.task = asyncio.create_task(self._run(job, workload))

    async def _run(self, job: Job, workload: Workload) -> None:
        ids = worker_ids(self.config.index, self.config.shards, job.config.workers)
        try:
            report, runner = await race_share(
                job, workload, self.history, self.config.shards,
                lambda sink, pace: ShardRunner(self.client, workload, sink, ids, pace, replies=self.replies,
                                               starts=self.starts))
            await self.replies.put(("done", {**report, "process": self.config.index, "shard": self.config.index,
                                             "pid": os.getpid(), "workers": len(ids),
                                             "late_ms": _ms_stats(runner.late_ns)}))
        except Exception as exc:
            await self.replies.put(("error", f"{type(exc).__name__}: {exc}"))

    async def reply(self) -> tuple[str, Any, tuple[int, bytes]]:
        """The next answer of the job — ("ready", None), ("done", report) or ("error", message) — with the events
        recorded until then (one call per race instead of two: each costs ~1 ms here)."""
        tag, payload = await self.replies.get()
        return tag, payload, self.history.drain()

    async def go(self, t0: int | None) -> None:
        """Start the armed race at ``t0`` (this shard's clock), or stop the job (None)."""
        await self.starts.put(t0)

    def drain(self) -> tuple[int, bytes]:
        """The events recorded since the last drain."""
        return self.history.drain()

    async def close(self) -> None:
        """Close the client."""
        await self._stack.aclose()


# --------------------------------------------------------------------------- driver side


class ShardLost(RuntimeError):
    """A shard's actor died."""

    def __init__(self, shard: int, error: BaseException) -> None:
        super().__init__(f"shard {shard}: {type(error).__name__}")
        self.shard, self.error = shard, error


@dataclass
class Lost:
    """A shard that died, and the keys whose last ops it never handed back."""

    shard: int
    workload: str
    error: str
    keys: list[str] | None  # None: every key of the workload (a sustained round)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for run.json."""
        return {"shard": self.shard, "workload": self.workload, "error": self.error, "keys": self.keys}


def connect(address: str | None, shards: int) -> tuple[bool, Path | None]:
    """Join the cluster at ``address`` or start a private local Ray (``None`` or ``local``); returns whether
    we started it, and its temp directory."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats prompt or upload from a test harness
    _ray_messages_to_stderr()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    if address not in (None, LOCAL):
        if ray_host_port(address)[0] in LOOPBACK_HOSTS:
            _keep_loopback()
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray-address {address}: cannot connect ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        return False, None
    # A short private temp dir: nothing is shared with another Ray on this machine, everything it started
    # is found (and checked gone) by this path, and its sockets stay under the 107-byte limit.
    temp_dir = Path(tempfile.mkdtemp(prefix="ddbstress-ray-", dir="/tmp"))
    _keep_loopback()
    try:
        ray.init(address=LOCAL, num_cpus=max(shards, os.cpu_count() or 1), include_dashboard=False,
                 object_store_memory=LOCAL_OBJECT_STORE, _node_ip_address="127.0.0.1", _temp_dir=str(temp_dir),
                 **quiet)
    except BaseException:
        disconnect(True, temp_dir)
        raise
    return True, temp_dir


def _keep_loopback() -> None:
    """Make Ray keep 127.0.0.1 as given. It swaps a loopback address for the machine's own IP
    (``resolve_ip_for_localhost``): a private Ray started on 127.0.0.1 listened on the machine's network address
    instead, and joining a cluster that listens on 127.0.0.1 alone dialled that address and retried for minutes
    (both seen here, Ray 2.60). Ray's own switch for single-machine platforms, read at import (hence set on its
    module), turns the swap off."""
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _ray_messages_to_stderr() -> None:
    """Ray prints the cluster's error messages (a worker that died, ...) to the driver's stdout, where they would
    break ``--json``: send them to stderr, with everything else the run says about itself."""
    from ray._private import worker

    original = worker.print_to_stdstream
    if getattr(original, "to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def disconnect(started: bool, temp_dir: Path | None) -> None:
    """Leave the cluster; a Ray we started stops with every process it ran (and its temp directory goes)."""
    with contextlib.suppress(Exception):
        ray.shutdown()
    if started and temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


class ShardPool:
    """The shards of one run; the driver drives their races and drains their histories."""

    def __init__(self, configs: list[ShardConfig], address: str | None, run_dir: Path) -> None:
        self.configs, self.address, self.run_dir = configs, address, run_dir
        self.started_ray = False
        self.temp_dir: Path | None = None
        self.group: Any = None
        self.actors: list[Any] = []
        self.info: list[dict[str, Any]] = []
        self.clocks: list[ClockEstimate] = []
        self.end_clocks: list[ClockEstimate | None] = []
        self.alive: list[bool] = []
        self.lost: list[Lost] = []
        self.lead_ns = MIN_LEAD_NS
        self.ready_s = 0.0
        self._spools = [spool_path(run_dir, c.index).open("ab", buffering=0) for c in configs]
        self._drain_lock = asyncio.Lock()
        self.workload = ""  # the one racing (named when a shard is lost)
        self._undrained: list[list[Any]] = [[] for _ in configs]  # steps fired since a shard's last drain
        self._next_chunk = [0] * len(configs)
        self._early: list[dict[int, bytes]] = [{} for _ in configs]  # chunks that overtook an earlier one

    async def __aenter__(self) -> ShardPool:
        started = time.monotonic()
        try:
            self.started_ray, self.temp_dir = connect(self.address, len(self.configs))
            await self._place()
            self.info = list(await asyncio.gather(*(actor.open.remote() for actor in self.actors)))
            self.clocks = [await self._measure(k) for k in range(len(self.actors))]
        except BaseException:
            self._shutdown()
            raise
        self.alive = [True] * len(self.actors)
        # T0 travels by a Ray call, so the lead is counted in Ray round trips (not the clock probes' UDP ones).
        self.lead_ns = max(MIN_LEAD_NS, LEAD_RTTS * max([await self._ray_rtt(k) for k in range(len(self.actors))]))
        self.ready_s = time.monotonic() - started
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None or not issubclass(exc_type, (KeyboardInterrupt, asyncio.CancelledError)):
                await self._drain_all()
                self.end_clocks = [await self._measure_or_none(k) for k in range(len(self.actors))]
                await asyncio.gather(*(a.close.remote() for k, a in enumerate(self.actors) if self.alive[k]),
                                     return_exceptions=True)
        finally:
            self._shutdown()

    async def _place(self) -> None:
        cpus = ray.cluster_resources().get("CPU", 0)
        self.group = placement_group([{"CPU": 1}] * len(self.configs), strategy="SPREAD")
        try:
            await asyncio.wait_for(self.group.ready(), PLACEMENT_TIMEOUT_S)
        except TimeoutError:
            raise UsageError(f"--shards {len(self.configs)}: the Ray cluster could not place one CPU per shard "
                             f"within {PLACEMENT_TIMEOUT_S:g} s (it has {cpus:g} CPUs)") from None
        actor = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0, max_concurrency=1000)(Shard)
        self.actors = [actor.options(
            name=None, scheduling_strategy=PlacementGroupSchedulingStrategy(self.group, placement_group_bundle_index=k),
        ).remote(config) for k, config in enumerate(self.configs)]

    async def _measure(self, k: int) -> ClockEstimate:
        """The shard's clock offset: by UDP probes of its ClockEcho, or by Ray calls when none came back."""
        addr = self.info[k].get("clock_addr") if k < len(self.info) else None
        samples = udp_samples(addr, CLOCK_ROUNDS) if addr else []
        if samples:
            return estimate_offset(samples)
        actor = self.actors[k]
        for _ in range(CLOCK_ROUNDS):
            send = time.monotonic_ns()
            shard = await actor.clock.remote()
            samples.append((send, shard, time.monotonic_ns()))
        return estimate_offset(samples)

    async def _ray_rtt(self, k: int, rounds: int = 5) -> int:
        """The shortest of ``rounds`` Ray calls to shard ``k``."""
        best = None
        for _ in range(rounds):
            send = time.monotonic_ns()
            await self.actors[k].clock.remote()
            rtt = time.monotonic_ns() - send
            best = rtt if best is None else min(best, rtt)
        return best or 0

    async def _measure_or_none(self, k: int) -> ClockEstimate | None:
        if not self.alive[k]:
            return None
        try:
            return await self._measure(k)
        except RayError:
            return None

    def clock(self, k: int) -> ClockEstimate:
        """Shard ``k``'s offset and ε over the whole run (before and after, when it lived to the end)."""
        end = self.end_clocks[k] if k < len(self.end_clocks) else None
        return over_run(self.clocks[k], end)

    async def run_job(self, job: Job, workload: Workload, pace: Pace, on_step: Callable[[], None] | None,
                      gate: Callable[[], Awaitable[None]] | None = None) -> list[dict[str, Any]]:
        """Drive one job's races across the live shards; returns each one's report. ``gate`` is awaited
        before every start (the crash nemesis holds races while the server restarts)."""
        steps = list(job.steps(workload))
        self.workload = workload.name
        live = [k for k, alive in enumerate(self.alive) if alive]
        await self._each(live, workload.name, lambda k: self.actors[k].begin.remote(job))
        reports: dict[int, dict[str, Any]] = {}
        fired = False
        for race in range(len(steps) + 2):
            racing = asyncio.Event()
            drainer = asyncio.create_task(self._drain_while(racing)) if fired else None
            try:
                replies = await self._each(live, workload.name, lambda k: self.actors[k].reply.remote())
            finally:
                if drainer:
                    racing.set()
                    await drainer  # never cancelled mid-drain: the chunk it asked for would be lost
            if fired and on_step:
                on_step()
            for k, (tag, payload, chunk) in zip(live, replies, strict=True):
                if chunk is not None:
                    self._spool(k, chunk)
                    self._undrained[k].clear()
                if tag == "error":
                    raise UsageError(f"shard {k} failed: {payload}")
                if tag == "done":
                    reports[k] = payload
            live = [k for k in live if k not in reports and self.alive[k]]
            if not live:
                return [reports[k] for k in sorted(reports)]
            if gate and not pace.expired() and not self.lost:
                await gate()
            fired = not (pace.expired() or self.lost or race >= len(steps))
            if not fired:
                await self._each(live, workload.name, lambda k: self.actors[k].go.remote(None))
                continue
            for k in live:
                self._undrained[k].append(steps[race])
            t0 = time.monotonic_ns() + self.lead_ns  # driver clock; each shard is sent it on its own clock
            await self._each(live, workload.name,
                             lambda k, t0=t0: self.actors[k].go.remote(t0 + self.clocks[k].offset_ns))
        raise UsageError(f"shards ran more than the {len(steps)} races of {job.spec}")

    async def _each(self, live: Sequence[int], workload: str, call: Callable[[int], Any]) -> list[Any]:
        """``call`` on every live shard at once; a dead shard is marked lost (and dropped from the answers)."""
        results = await asyncio.gather(*(call(k) for k in live), return_exceptions=True)
        answers = []
        for k, result in zip(live, results, strict=True):
            if isinstance(result, RayError):
                self._mark_lost(k, workload, result)
                answers.append(("lost", None, None))
            elif isinstance(result, BaseException):
                raise result
            else:
                answers.append(result)
        return answers

    def _mark_lost(self, k: int, workload: str, error: BaseException) -> None:
        if not self.alive[k]:
            return
        self.alive[k] = False
        steps = self._undrained[k]
        keys = None if any(step.sustain_s is not None for step in steps) else sorted({step.key for step in steps})
        self.lost.append(Lost(k, workload, type(error).__name__, keys))
        print(f"stress: shard {k} was lost ({type(error).__name__}); racing stops, the run is checked as far as "
              "it got", file=sys.stderr)

    async def _drain_while(self, done: asyncio.Event) -> None:
        """Drain every ``DRAIN_EVERY_S`` until ``done`` (a long sustained round's events do not pile up)."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), DRAIN_EVERY_S)
                return
            await self._drain_all(keep_undrained=True)

    def _spool(self, k: int, chunk: tuple[int, bytes]) -> None:
        """Append shard ``k``'s chunks to its spool file in the order the shard cut them."""
        seq, data = chunk
        self._early[k][seq] = data
        while self._next_chunk[k] in self._early[k]:
            self._spools[k].write(self._early[k].pop(self._next_chunk[k]))
            self._next_chunk[k] += 1

    async def _drain_all(self, keep_undrained: bool = False) -> None:
        """Append every live shard's buffered events to its spool file (one drain at a time, so chunks
        land in order)."""
        async with self._drain_lock:
            live = [k for k, alive in enumerate(self.alive) if alive]
            chunks = await asyncio.gather(*(self.actors[k].drain.remote() for k in live), return_exceptions=True)
            for k, chunk in zip(live, chunks, strict=True):
                if isinstance(chunk, RayError):
                    self._mark_lost(k, self.workload, chunk)
                    continue
                if isinstance(chunk, BaseException):
                    raise chunk
                self._spool(k, chunk)
                if not keep_undrained:
                    self._undrained[k].clear()

    def kill_shards(self) -> None:
        """Kill every actor and free the placement group (idempotent)."""
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        if self.group is not None:
            with contextlib.suppress(Exception):
                remove_placement_group(self.group)
            self.group = None

    def _shutdown(self) -> None:
        for spool in self._spools:
            spool.close()
        if ray.is_initialized():
            self.kill_shards()
        disconnect(self.started_ray, self.temp_dir)

    def describe(self) -> list[dict[str, Any]]:
        """Per shard for run.json: where it ran, its workers and its clock."""
        out = []
        for k, config in enumerate(self.configs):
            info = dict(self.info[k]) if k < len(self.info) else {"shard": k}
            ids = worker_ids(k, config.shards, config.workers)
            info.update(workers=len(ids), alive=self.alive[k] if k < len(self.alive) else False)
            if k < len(self.clocks):
                info["clock"] = self.clock(k).to_json()
                info["clock_before"] = self.clocks[k].to_json()
                end = self.end_clocks[k] if k < len(self.end_clocks) else None
                info["clock_after"] = end.to_json() if end else None
            out.append(info)
        return out


# --------------------------------------------------------------------------- merging the histories


@dataclass
class Bursts:
    """Per race (workload, key, round): each shard's first and last invoke (driver time)."""

    spans: dict[tuple[Any, ...], dict[int, list[int]]] = field(default_factory=dict)

    def add(self, shard: int, event: dict[str, Any]) -> None:
        """Account one merged event (only invokes count)."""
        if event.get("type") != INVOKE:
            return
        race = self.spans.setdefault((event.get("workload"), event.get("key"), event.get("round")), {})
        first_last = race.setdefault(shard, [event["time"], event["time"]])
        first_last[1] = event["time"]

    def summary(self) -> dict[str, Any]:
        """``per_shard_span_ms``: first to last invoke of a race within each shard; ``start_skew_ms``: the
        first invokes of the shards of a race; ``invoke_span_ms``: first to last invoke across all shards."""
        per_shard: dict[int, list[int]] = {}
        skews, spans = [], []
        for race in self.spans.values():
            for shard, (first, last) in race.items():
                per_shard.setdefault(shard, []).append(last - first)
            firsts = [first for first, _ in race.values()]
            if len(firsts) > 1:
                skews.append(max(firsts) - min(firsts))
            spans.append(max(last for _, last in race.values()) - min(firsts))
        return {"races": len(self.spans), "start_skew_ms": _ms_stats(skews), "invoke_span_ms": _ms_stats(spans),
                "per_shard_span_ms": {str(k): _ms_stats(v) for k, v in sorted(per_shard.items())}}


def _shifted(events: Iterable[dict[str, Any]], offset_ns: int) -> Iterator[dict[str, Any]]:
    """A shard's events on the driver's time base (its clock minus its offset)."""
    for event in events:
        event["time"] -= offset_ns
        if "intended" in event:
            event["intended"] -= offset_ns
        yield event


def merge_shards(paths: Sequence[Path], offsets: Sequence[int], out: HistoryWriter) -> Bursts:
    """Merge the shards' spool files into ``out`` by driver time, re-indexed; returns the bursts.

    Each file is in time order (a shard stamps and buffers an event in one synchronous step) and a
    constant shift keeps it so; no shard's events are reordered, so an invoke still precedes its completion.
    """
    bursts = Bursts()
    with contextlib.ExitStack() as stack:
        streams = [_shifted(read_child_events(stack.enter_context(path.open("rb"))), offset)
                   for path, offset in zip(paths, offsets, strict=True) if path.exists()]
        for event in heapq.merge(*streams, key=lambda event: event["time"]):
            event.pop("index", None)
            bursts.add(event["shard"], event)
            out.append(event)
    return bursts
