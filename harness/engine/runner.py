"""The runner: releases all workers at the same instant, step after step, and records the history.

A burst step is one race: every worker's request built before the gun, all sent at once. A sustained
step (``--pattern sustained``) is released by the same gun, after which every worker loops on its own
key for the step's ``sustain_s``, each op built from what that worker last saw.

Where every op is one request, a step's ops are sent and recorded from callbacks, with no task per worker
(``StepRunner.direct``): the client's CPU per op is what limits the harness on a small machine.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from asyncio_throttle import Throttler

from harness.clients.sdk import DynamoClient, Outcome
from harness.engine.pacing import rate_slice
from harness.engine.quiet_gc import quiet_gc
from harness.history.events import HistoryWriter
from workloads.base import Call, Step, Workload

log = logging.getLogger(__name__)


@dataclass
class Pace:
    """How fast and how long: an optional ops/s cap, and a wall-clock ``deadline`` (monotonic seconds) or a
    ``duration_s`` of racing that sets it.

    The duration starts with :meth:`racing`: creating and seeding tables is not racing (it had eaten a whole
    ``--duration 1`` on a slow machine before the first race, leaving an empty history; on AWS creating a
    table takes longer than that).
    """

    rate: float | None = None
    deadline: float | None = None
    duration_s: float | None = None
    stopped: bool = False

    def expired(self) -> bool:
        """True once the run's duration is used up, or it was stopped."""
        return self.stopped or (self.deadline is not None and time.monotonic() >= self.deadline)

    def stop(self) -> None:
        """Start no more races (as if the duration were used up)."""
        self.stopped = True

    def racing(self) -> None:
        """The races start now: ``duration_s`` (if any) counts from here, the first call only."""
        if self.duration_s is not None and self.deadline is None:
            self.deadline = time.monotonic() + self.duration_s


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (faster sockets, less client CPU per request)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def table_name(run_id: str, workload: str) -> str:
    """The table a run creates for one workload: ``ddbstress-<run-id>-<workload>``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"ddbstress-{run_id}-{workload}")[:255]


async def create_table(client: DynamoClient, definition: dict[str, Any]) -> None:
    """Create a table and wait until it is ACTIVE."""
    await client.raw.create_table(**definition)
    waiter = client.raw.get_waiter("table_exists")
    await waiter.wait(TableName=definition["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})


DELETE_TIMEOUT_S = 30.0  # cleanup of an unresponsive server must not hold Ctrl-C for minutes


async def delete_table(client: DynamoClient, name: str, timeout_s: float = DELETE_TIMEOUT_S) -> None:
    """Delete a table the run created, within ``timeout_s``; a failure is logged (naming `stress cleanup`,
    which finds the table by its tags later), never raised."""
    try:
        await asyncio.wait_for(client.raw.delete_table(TableName=name), timeout_s)
    except Exception as exc:  # cleanup must not mask the run's own outcome
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            return  # interrupted before its CreateTable was sent: nothing to delete
        log.warning("could not delete table %s (%r); `stress cleanup` removes it later", name, exc)


def smooth_throttler(rate: float) -> Throttler:
    """At most ``rate`` ops/s, released in 10 ms slices rather than a burst at the start of each second."""
    per_slice, period_s = rate_slice(rate)
    return Throttler(rate_limit=per_slice, period=period_s)


# A sustained loop ends at its step's deadline; this bounds its count too (a server answering in
# microseconds must not grow a history without limit): ~1.5 GB of history at most per worker.
MAX_SUSTAINED_OPS = 1_000_000


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class StepRunner:
    """Runs a workload's steps: build every request, fire the starting gun, await all outcomes.

    The one race loop of the engine: in one process it runs every worker; in a child of
    ``--processes`` it runs that child's share, and ``release`` waits for the parent's shared gun.
    """

    def __init__(self, client: DynamoClient, workload: Workload, history: HistoryWriter,
                 workers: int | Sequence[int], pace: Pace, on_step: Callable[[], None] | None = None,
                 gate: Callable[[], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.workload = workload
        self.history = history
        self.worker_ids: Sequence[int] = range(workers) if isinstance(workers, int) else workers
        self.pace = pace
        self.on_step = on_step or (lambda: None)
        self.gate = gate  # awaited before every race: the crash nemesis holds races while the server restarts
        self.throttler = smooth_throttler(pace.rate) if pace.rate else None
        self.ops = 0
        self._paced_start: int | None = None
        self._paced_count = 0

    async def run(self, steps: Iterable[Step] | None = None) -> int:
        """``steps`` (default: all of the workload's) until the deadline or a stop; returns how many ran.

        When the next race's requests do not depend on the current one's outcomes
        (``Workload.can_prepare_during``), they are built and signed while it is in flight, so the
        server is not left idle.
        """
        with quiet_gc():
            return await self._run(steps)

    async def _run(self, steps: Iterable[Step] | None) -> int:
        done = 0
        steps = iter(self.workload.steps() if steps is None else steps)
        step = next(steps, None)
        calls = await self.prepare(step) if step else []
        race: Awaitable[Any] | None = None
        try:
            while step is not None and not self.pace.expired():
                race = await self.start(step, calls, done)
                if race is None:
                    break
                following = next(steps, None)
                if following is not None and self.workload.can_prepare_during(following, step):
                    await asyncio.sleep(0)  # every worker sends before the next race is built
                    calls = await self.prepare(following, yield_every=32)
                    await race
                else:
                    await race
                    calls = await self.prepare(following) if following is not None else []
                step = following
                done += 1
                self.on_step()
        finally:
            if isinstance(race, asyncio.Future) and not race.done():
                race.cancel()  # interrupted while the next race was built: give up the requests in flight
        return done

    async def race(self, step: Step) -> None:
        """One race: every worker's request is built first, then all are released at once."""
        race = await self.start(step, await self.prepare(step), 0)
        if race is not None:
            await race

    async def prepare(self, step: Step, yield_every: int = 0) -> list[tuple[int, Call | None]]:
        """Build (and let the client serialise and sign) every worker's request for ``step``; a sustained
        step's workers build theirs in their loops."""
        await self.workload.before_step(self.client, step)
        if step.sustain_s is not None:
            return [(worker, None) for worker in self.worker_ids]
        calls: list[tuple[int, Call | None]] = []
        for n, worker in enumerate(self.worker_ids, 1):
            call = self.workload.request(worker, step)
            if call:
                call.prepared = self.client.prepare(call.request)
                calls.append((worker, call))
            if yield_every and n % yield_every == 0:
                await asyncio.sleep(0)  # let the race in flight handle its responses
        return calls

    async def start(self, step: Step, calls: list[tuple[int, Call | None]], number: int) -> Awaitable[Any] | None:
        """Fire the race once ``release`` allows: its ops sent from callbacks (``direct``), or every worker's
        task parked on one gun and released by it; returns the race to await, or None when it was called off."""
        if self.gate:
            await self.gate()
        await self.client.warm()  # re-open connections the server closed, so nobody connects mid-race
        if self.direct(step):
            return self._fire(step, calls) if await self.release(number) else None
        gun = asyncio.Event()
        tasks = [asyncio.create_task(self._worker(worker, step, call, gun)) for worker, call in calls]
        await asyncio.sleep(0)  # every task now waits on the gun
        if not await self.release(number):
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return None
        gun.set()
        race = asyncio.gather(*tasks)
        # A race abandoned by Ctrl-C (cancelled while the next one was being built) must not make the loop log
        # "exception was never retrieved" with a traceback at shutdown (seen in CI).
        race.add_done_callback(_retrieve)
        return race

    def direct(self, step: Step) -> bool:
        """Whether ``step``'s ops are sent from callbacks, with no task per worker: each op is one request (the
        workload's own ``execute``, see ``Workload.one_request``), no --rate holds it back, and no gate holds a
        sustained loop between its ops. Otherwise every worker is a task parked on the gun."""
        return (self.throttler is None and self.workload.one_request
                and (step.sustain_s is None or self.gate is None))

    def _fire(self, step: Step, calls: list[tuple[int, Call | None]]) -> asyncio.Future[None]:
        """Send ``step``'s ops now; returns the race, done once every worker's last op is recorded.

        A burst worker sends its one call; a sustained worker (``call`` None) sends its next op from the
        callback that recorded the last one. Completions are recorded from the callback that classifies the
        response (``client.submit``), never later. A cancelled race (Ctrl-C) gives up the requests in flight:
        their ops keep only their invoke, and count as indeterminate. An exception the workload raises fails
        the race, as it would fail a worker's task.
        """
        race: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        in_flight: dict[int, Any] = {}  # worker -> its request's exchange
        workers_left = len(calls)
        client = self.client

        def finished() -> None:
            nonlocal workers_left
            workers_left -= 1
            if not workers_left and not race.done():
                race.set_result(None)

        def send(worker: int, op_step: Step, call: Call, then: Callable[[], None], **extra: Any) -> None:
            def done(outcome: Outcome) -> None:
                in_flight.pop(worker, None)
                if race.done():
                    return
                try:
                    self._completed(worker, op_step, call, outcome)
                    then()
                except Exception as exc:
                    race.set_exception(exc)

            self._invoked(worker, op_step, call, **extra)
            in_flight[worker] = client.submit(call.request, call.prepared, done)  # done runs later, never inside

        def sustain(worker: int) -> None:
            ops = self._sustained_ops(worker, step)

            def next_op() -> None:
                op = next(ops, None)
                if op is None:
                    finished()
                else:
                    send(worker, op[0], op[1], next_op, n=op[0].n)

            next_op()

        def abandon(race: asyncio.Future[None]) -> None:
            for exchange in in_flight.values():
                exchange.cancel()
            in_flight.clear()

        race.add_done_callback(abandon)
        race.add_done_callback(_retrieve)
        try:
            for worker, call in calls:
                if call is None:
                    sustain(worker)
                else:
                    send(worker, step, call, finished)
        except BaseException:
            race.cancel()
            raise
        if not calls:
            race.set_result(None)
        return race

    async def release(self, number: int) -> bool:
        """Whether race ``number`` may go (in one process: always, at once)."""
        return True

    def _intended_start(self) -> int:
        """When this op was due under --rate: latency counts from here, so a stalled server's queue is not
        hidden by the client waiting politely (coordinated omission, as wrk2 and YCSB measure it)."""
        now = time.monotonic_ns()
        if self._paced_start is None:
            self._paced_start = now
        due = self._paced_start + int(self._paced_count * 1e9 / self.pace.rate)
        self._paced_count += 1
        return due

    async def _worker(self, worker: int, step: Step, call: Call | None, gun: asyncio.Event) -> None:
        await gun.wait()
        if call is None:
            await self._sustain(worker, step)
        else:
            await self._op(worker, step, call)

    async def _sustain(self, worker: int, step: Step) -> None:
        """One worker's sustained loop on its key until the step's time is up, as a task (see ``direct``)."""
        ops = self._sustained_ops(worker, step)
        while True:
            if self.gate:
                await self.gate()
            op = next(ops, None)
            if op is None:
                return
            await self._op(worker, *op, n=op[0].n)

    def _sustained_ops(self, worker: int, step: Step) -> Iterator[tuple[Step, Call]]:
        """A sustained worker's ops, each built (and prepared) when asked for, from what the worker last saw,
        until the step's time is up or the workload has no next op."""
        assert step.sustain_s is not None
        key = self.workload.sustained_key(worker, step.round)
        end = time.monotonic() + step.sustain_s
        for n in range(MAX_SUSTAINED_OPS):
            if time.monotonic() >= end:
                return
            op_step = Step(step.round, key, n=n)
            call = self.workload.request(worker, op_step)
            if call is None:
                return
            call.prepared = self.client.prepare(call.request)
            yield op_step, call

    async def _op(self, worker: int, step: Step, call: Call, **extra: Any) -> None:
        """Send one op and record its invoke and completion."""
        paced = {}
        if self.throttler:
            paced["intended"] = self._intended_start()
            async with self.throttler:
                pass
        self._invoked(worker, step, call, **extra, **paced)
        try:
            outcome = await self.workload.execute(self.client, call)
        except Exception as exc:  # a workload bug must not lose the op: it becomes indeterminate
            log.error("%s: worker %d crashed: %r", self.workload.name, worker, exc)
            outcome = Outcome("info", error=type(exc).__name__)
        self._completed(worker, step, call, outcome)

    def _invoked(self, worker: int, step: Step, call: Call, **extra: Any) -> None:
        """Record the invoke of ``worker``'s op, just before it is sent."""
        self.history.invoke(worker, self.workload.name, call.f, step.key, call.value, round=step.round, **extra)

    def _completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> None:
        """Let the workload learn from ``outcome`` and record the op's completion."""
        self.ops += 1
        value = self.workload.completed(worker, step, call, outcome)
        self.history.complete(worker, self.workload.name, call.f, step.key, outcome.type, value,
                              error=outcome.error, attempts=outcome.attempts, old=outcome.old, raw=outcome.raw,
                              reasons=outcome.reasons, round=step.round)
