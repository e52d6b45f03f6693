"""Race your own code: release N calls of a coroutine function at the same instant.

The harness's workloads race DynamoDB requests; :func:`race` races *your* function (a signup
handler, a "claim coupon" service call, anything async) the same way, from a plain test::

    from harness.testing import race

    async def test_only_one_signup_wins():
        result = await race(lambda: signup("alice", "a@example.com"), workers=50)
        result.assert_exactly_one_winner()

Every call is created up front and waits on one :class:`asyncio.Event`; the event is set once
all of them wait, so they start within the same event-loop iteration. A call that returns is a
*winner* (its return value is kept); a call that raises is a *failure* (the exception and its
class name are kept). Decide what "winning" means in your function: return on success, raise
(e.g. your own ``AlreadyTaken`` or botocore's ``ConditionalCheckFailedException``) otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attempt", "RaceResult", "race"]


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
class RaceResult:
    """Every call of a race, in worker order."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def winners(self) -> list[Attempt]:
        """Calls that returned."""
        return [a for a in self.attempts if a.ok]

    @property
    def failures(self) -> list[Attempt]:
        """Calls that raised."""
        return [a for a in self.attempts if not a.ok]

    def errors(self) -> Counter[str]:
        """How many calls failed with each error name."""
        return Counter(a.error or "?" for a in self.failures)

    def max_in_flight(self) -> int:
        """Most calls running at one instant (how much the race really overlapped)."""
        points = sorted([(a.started, 1) for a in self.attempts] + [(a.finished, -1) for a in self.attempts])
        level = best = 0
        for _, delta in points:
            level += delta
            best = max(best, level)
        return best

    def assert_exactly_one_winner(self) -> Attempt:
        """Raise AssertionError unless exactly one call returned; returns the winner."""
        winners = self.winners
        if len(winners) != 1:
            raise AssertionError(f"expected exactly one winner out of {len(self.attempts)} calls, got "
                                 f"{len(winners)} (workers {[a.worker for a in winners][:20]}); "
                                 f"failures: {dict(self.errors())}")
        return winners[0]

    def assert_at_most_one_winner(self) -> Attempt | None:
        """Raise AssertionError if more than one call returned."""
        if len(self.winners) > 1:
            self.assert_exactly_one_winner()
        return self.winners[0] if self.winners else None


async def race(fn: Callable[..., Awaitable[Any]], workers: int = 50, *,
               args_for: Callable[[int], Sequence[Any]] | None = None) -> RaceResult:
    """Call ``fn`` ``workers`` times, all released at once; classify each call by return or raise.

    ``fn(*args_for(i))`` is called for worker ``i`` (``fn()`` when ``args_for`` is None). Returns
    a :class:`RaceResult`; ``KeyboardInterrupt``/``SystemExit``/cancellation are not swallowed.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    gun = asyncio.Event()
    ready = asyncio.Semaphore(0)

    arguments = [tuple(args_for(worker)) if args_for else () for worker in range(workers)]

    async def one(worker: int, args: tuple[Any, ...]) -> Attempt:
        ready.release()
        await gun.wait()
        started = time.monotonic()
        try:
            value = await fn(*args)
        except Exception as exc:
            return Attempt(worker, False, error=_error_name(exc), exception=exc, started=started,
                           finished=time.monotonic())
        return Attempt(worker, True, value=value, started=started, finished=time.monotonic())

    tasks = [asyncio.create_task(one(worker, args)) for worker, args in enumerate(arguments)]
    for _ in range(workers):
        await ready.acquire()  # every call waits on the gun
    gun.set()
    return RaceResult(list(await asyncio.gather(*tasks)))


def _error_name(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__
