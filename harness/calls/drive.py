"""Driving a user's function: N calls released at once (race), or calls in a loop for a while (hammer).

Plain functions run on threads released together at one :class:`threading.Barrier`; coroutine functions
run as asyncio tasks released by one :class:`asyncio.Event` once every task waits on it. Every call is
recorded by a :class:`~harness.calls.record.Recorder`. Both drivers are bounded in time (``timeout``, or
``duration``) and hammer also in count (``max_calls``): a hung function fails the test, it does not hang it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.calls.record import Frame, Recorder, arguments, enter, error_name, leave
from harness.history.events import time_ns


@dataclass
class Attempt:
    """One call of the race: who made it, what it returned or raised, and when."""

    worker: int
    ok: bool
    value: Any = None
    error: str | None = None  # the exception's class name (AWS error code for botocore ClientErrors)
    exception: BaseException | None = None
    started: float = 0.0  # time.monotonic() when the call started
    finished: float = 0.0

    @property
    def latency_s(self) -> float:
        """How long the call took."""
        return self.finished - self.started


@dataclass
class Plan:
    """What to call and how: the function, its name and key in the history, each worker's arguments."""

    fn: Callable[..., Any]
    name: str
    workers: int
    args_for: Callable[[int], Sequence[Any]] | None
    key: str | Callable[[int], Any] | None
    recorder: Recorder

    def arguments(self, worker: int) -> tuple[Any, ...]:
        return tuple(self.args_for(worker)) if self.args_for else ()

    def key_of(self, worker: int) -> str:
        if self.key is None:
            return self.name
        return str(self.key(worker)) if callable(self.key) else str(self.key)


class NotAwaitable(TypeError):
    """A call on the asyncio path returned a plain value: the function is not a coroutine function."""


def _finish_call(plan: Plan, frame: Frame, args: tuple[Any, ...], invoked: int, started: float,
                 value: Any, exc: Exception | None) -> Attempt:
    """Record the raced call itself (unless it made recorded calls) and describe it as an Attempt."""
    finished = time.monotonic()
    worker = frame.worker
    if not frame.inner:
        plan.recorder.op(frame, plan.name, plan.key_of(worker), arguments(plan.fn, args, {}), invoked, time_ns(),
                         value, exc)
    if exc is not None:
        return Attempt(worker, False, error=error_name(exc), exception=exc, started=started, finished=finished)
    return Attempt(worker, True, value=value, started=started, finished=finished)


def call_sync(plan: Plan, worker: int, args: tuple[Any, ...], round_: int | None = None) -> Attempt:
    """One call of a plain function on the calling thread, recorded for ``worker`` (``round_``: hammer's call
    number)."""
    frame, token = enter(plan.recorder, worker, round_)
    invoked, started = time_ns(), time.monotonic()
    value, error = None, None
    try:
        value = plan.fn(*args)
    except Exception as exc:
        error = exc
    finally:
        leave(token)
    if inspect.isawaitable(value):
        _close(value)
        raise TypeError(f"{plan.name} returned a coroutine: await race()/hammer() inside an async test "
                        "(or pass an async function) to have it awaited")
    return _finish_call(plan, frame, args, invoked, started, value, error)


async def call_async(plan: Plan, worker: int, args: tuple[Any, ...], round_: int | None = None) -> Attempt:
    """One awaited call, recorded for ``worker`` (in this task's context)."""
    frame, token = enter(plan.recorder, worker, round_)
    invoked, started = time_ns(), time.monotonic()
    value, error = None, None
    try:
        pending = plan.fn(*args)
        if not inspect.isawaitable(pending):
            raise NotAwaitable(f"{plan.name} returned {type(pending).__name__}, not an awaitable: inside a running "
                               "event loop race()/hammer() await each call, so a plain function's calls would not "
                               "overlap; call race()/hammer() from a plain (non-async) test to run it on threads")
        value = await pending
    except NotAwaitable:
        raise
    except Exception as exc:
        error = exc
    finally:
        leave(token)
    return _finish_call(plan, frame, args, invoked, started, value, error)


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()  # no "coroutine was never awaited" warning on top of our error


# ----- race ---------------------------------------------------------------------------------------------------

def race_threads(plan: Plan, timeout_s: float) -> list[Attempt]:
    """``plan.workers`` threads, released at one barrier, one call each; raises TimeoutError if calls are still
    running after ``timeout_s``."""
    barrier = threading.Barrier(plan.workers)
    results: list[Attempt | None] = [None] * plan.workers
    problems: list[BaseException] = []

    def run(worker: int, args: tuple[Any, ...]) -> None:
        try:
            barrier.wait(timeout=timeout_s)
            results[worker] = call_sync(plan, worker, args)
        except BaseException as exc:  # re-raised on the test's thread, not lost in this one
            problems.append(exc)

    _run_threads(plan, run, timeout_s)
    return _collected(plan, results, problems, timeout_s)


async def race_tasks(plan: Plan, timeout_s: float) -> list[Attempt]:
    """``plan.workers`` tasks released by one event once all wait on it, one awaited call each."""
    gun = asyncio.Event()
    ready = asyncio.Semaphore(0)

    async def one(worker: int, args: tuple[Any, ...]) -> Attempt:
        ready.release()
        await gun.wait()
        return await call_async(plan, worker, args)

    tasks = [asyncio.create_task(one(worker, plan.arguments(worker))) for worker in range(plan.workers)]
    try:
        for _ in range(plan.workers):
            await ready.acquire()  # every call waits on the gun
        gun.set()
        return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout_s))
    except TimeoutError:
        raise TimeoutError(f"calls of {plan.name} still running after {timeout_s:g} s") from None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # every outcome retrieved: no "never retrieved" log


# ----- hammer -------------------------------------------------------------------------------------------------

class Budget:
    """How many calls may still start (shared by every worker) and until when."""

    def __init__(self, max_calls: int, duration_s: float) -> None:
        self.left = max_calls
        self.deadline = time.monotonic() + duration_s
        self._lock = threading.Lock()

    def take(self) -> bool:
        """True when one more call may start (and counts it)."""
        if time.monotonic() >= self.deadline:
            return False
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def hammer_threads(plan: Plan, duration_s: float, max_calls: int, grace_s: float) -> list[Attempt]:
    """Threads calling in a loop for ``duration_s`` or ``max_calls`` calls in all, whichever ends first."""
    budget: list[Budget] = []
    # The barrier's action runs once every thread is ready, before any is released: the clock starts then.
    barrier = threading.Barrier(plan.workers, action=lambda: budget.append(Budget(max_calls, duration_s)))
    attempts: list[list[Attempt]] = [[] for _ in range(plan.workers)]
    problems: list[BaseException] = []

    def run(worker: int, args: tuple[Any, ...]) -> None:
        try:
            barrier.wait(timeout=grace_s)
            while budget[0].take():
                attempts[worker].append(call_sync(plan, worker, args, len(attempts[worker])))
        except BaseException as exc:
            problems.append(exc)

    _run_threads(plan, run, duration_s + grace_s)
    return _collected(plan, [a for worker in attempts for a in worker], problems, duration_s + grace_s)


async def hammer_tasks(plan: Plan, duration_s: float, max_calls: int, grace_s: float) -> list[Attempt]:
    """Tasks awaiting calls in a loop for ``duration_s`` or ``max_calls`` calls in all."""
    gun = asyncio.Event()
    ready = asyncio.Semaphore(0)
    budget: list[Budget] = []
    attempts: list[list[Attempt]] = [[] for _ in range(plan.workers)]

    async def one(worker: int, args: tuple[Any, ...]) -> None:
        ready.release()
        await gun.wait()
        while budget[0].take():
            attempts[worker].append(await call_async(plan, worker, args, len(attempts[worker])))

    tasks = [asyncio.create_task(one(worker, plan.arguments(worker))) for worker in range(plan.workers)]
    try:
        for _ in range(plan.workers):
            await ready.acquire()
        budget.append(Budget(max_calls, duration_s))
        gun.set()
        await asyncio.wait_for(asyncio.gather(*tasks), duration_s + grace_s)
    except TimeoutError:
        raise TimeoutError(f"calls of {plan.name} still running {grace_s:g} s after the hammer's "
                           f"{duration_s:g} s") from None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [a for worker in attempts for a in worker]


# ----- threads ------------------------------------------------------------------------------------------------

def _run_threads(plan: Plan, run: Callable[[int, tuple[Any, ...]], None], timeout_s: float) -> None:
    """One daemon thread per worker (a hung call cannot keep the test process alive), joined until the deadline."""
    threads = [threading.Thread(target=run, args=(worker, plan.arguments(worker)), daemon=True,
                                name=f"ddb-stress-{plan.name}-{worker}") for worker in range(plan.workers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    running = sum(thread.is_alive() for thread in threads)
    if running:
        raise TimeoutError(f"{running} of {plan.workers} workers calling {plan.name} still running after "
                           f"{timeout_s:g} s")


def _collected(plan: Plan, results: list[Any], problems: list[BaseException], timeout_s: float) -> list[Attempt]:
    """The attempts, or the first error a worker thread hit outside the user's function (re-raised here)."""
    if problems:
        first = problems[0]
        if isinstance(first, threading.BrokenBarrierError):
            raise TimeoutError(f"the {plan.workers} workers of {plan.name} were not all ready within "
                               f"{timeout_s:g} s") from None
        raise first
    return [a for a in results if a is not None]
