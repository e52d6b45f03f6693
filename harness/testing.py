"""Race your own code: N calls released at the same instant (``race``) or calls in a loop (``hammer``), every
call recorded and checked like the harness's own workloads.

The harness's workloads race DynamoDB requests; these functions race *your* function (a signup handler, a
lock, a counter, a "claim coupon" service call) the same way, from a plain test::

    from harness.testing import race

    def test_only_one_signup_wins():                      # a plain function: N threads at one barrier
        result = race(lambda: signup("alice", "a@example.com"), workers=50)
        result.assert_exactly_one_winner()

    async def test_only_one_async_signup_wins():          # a coroutine function: N tasks at one event
        result = await race(lambda: signup_async("alice", "a@example.com"), workers=50)
        result.assert_exactly_one_winner()

``race`` returns the result for a plain function and an awaitable inside a running event loop (an async
test), where calls are awaited as tasks. A call that returns *won* (its return value is kept); a call that
raises *failed* (the exception and its name are kept). Decide what winning means in your function: return
on success, raise (your own ``AlreadyTaken``, botocore's ``ConditionalCheckFailedException``) otherwise.

Every race writes a run directory (``run_dir``, default ``$DDB_STRESS_RUNS_DIR`` or the temp dir's
``ddb-stress-runs/``): `stress check RUN_DIR` re-runs the assertions made on the result, `stress report
RUN_DIR` draws it. A failing assertion says where the directory and its report are. The ``assert_*``
methods check the patterns people build (:mod:`harness.checker.patterns`); wrap the steps they look at
with :func:`recorded` when the raced function does more than one (acquire, work, release).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from harness.calls import drive
from harness.calls.drive import Attempt
from harness.calls.record import Recorder, recorded
from harness.checker import patterns
from harness.checker.verdict import Verdict
from harness.history.events import Op, write_json
from harness.history.rundir import VERDICT_JSON

__all__ = ["Attempt", "RaceResult", "hammer", "race", "recorded"]

RACE_TIMEOUT_S = 60.0  # a race whose calls are still running after this fails (they are not waited for)
HAMMER_GRACE_S = 30.0  # how long a hammer waits for calls started before its duration ended
MAX_CALLS = 20_000  # hammer's default bound on calls (all workers together)


@dataclass
class RaceResult:
    """Every call of a race (or a hammer), in worker order, and the run directory that records them."""

    attempts: list[Attempt] = field(default_factory=list)
    run_dir: Path | None = None
    recorder: Recorder | None = field(default=None, repr=False)

    @property
    def winners(self) -> list[Attempt]:
        """Calls that returned."""
        return [a for a in self.attempts if a.ok]

    @property
    def failures(self) -> list[Attempt]:
        """Calls that raised."""
        return [a for a in self.attempts if not a.ok]

    @property
    def ops(self) -> list[Op]:
        """The recorded calls (those of :func:`recorded` functions too) as history ops."""
        return self.recorder.ops() if self.recorder else []

    def errors(self) -> Counter[str]:
        """How many calls failed with each error name."""
        return Counter(a.error or "?" for a in self.failures)

    def calls(self, f: str | None = None) -> int:
        """How many recorded calls returned (of function ``f`` only, if given)."""
        return sum(1 for op in self.ops if op.type == "ok" and (f is None or op.f == f))

    def max_in_flight(self) -> int:
        """Most calls running at one instant (how much the race really overlapped)."""
        points = sorted([(a.started, 1) for a in self.attempts] + [(a.finished, -1) for a in self.attempts])
        level = best = 0
        for _, delta in points:
            level += delta
            best = max(best, level)
        return best

    # ----- the patterns --------------------------------------------------------------------------------------

    def assert_exactly_one_winner(self) -> Attempt:
        """Raise AssertionError unless exactly one call returned; returns the winner."""
        winners = self.winners
        raced = self.recorder.config.get("function") if self.recorder else None
        if raced and any(op.f == raced for op in self.ops):  # the raced calls are in the history: re-checkable
            self._record({"pattern": patterns.UNIQUE_CLAIM, "f": raced, "per_key": False})
        if len(winners) != 1:
            raise AssertionError(f"expected exactly one winner out of {len(self.attempts)} calls, got "
                                 f"{len(winners)} (workers {[a.worker for a in winners][:20]}); "
                                 f"failures: {dict(self.errors())}{self._where(failed=True)}")
        return winners[0]

    def assert_at_most_one_winner(self) -> Attempt | None:
        """Raise AssertionError if more than one call returned."""
        if len(self.winners) > 1:
            self.assert_exactly_one_winner()
        return self.winners[0] if self.winners else None

    def assert_unique_claim(self, f: str | None = None) -> dict[str, Op]:
        """Exactly one call of ``f`` (default: the raced function) won per key; returns the winner of each key."""
        spec = {"pattern": patterns.UNIQUE_CLAIM, "f": f or self._raced(), "per_key": True}
        self._assert(spec)
        return {str(op.key): op for op in self.ops if op.f == spec["f"] and op.type == "ok"}

    def assert_mutual_exclusion(self, acquire: str, release: str | None = None, *,
                                lease_s: float | None = None) -> None:
        """No two workers held a lock (key) at one instant.

        ``acquire`` and ``release`` name :func:`recorded` functions: a worker holds the key from the return
        of its ``acquire`` until it invokes ``release`` on it, or its lease (``lease_s``, counted from the
        acquire's start) runs out: a holder past its lease is not a violation, two inside theirs are.
        """
        self._assert({"pattern": patterns.MUTUAL_EXCLUSION, "acquire": acquire, "release": release,
                      "lease_s": lease_s})

    def assert_unique_sequence(self, f: str | None = None, *, allow_gaps: bool = True) -> dict[str, list[int]]:
        """No value returned twice by successful calls of ``f`` (a counter, an auto-increment) per key.

        Returns the gaps per key (values skipped); with ``allow_gaps=False`` gaps beyond what failed or
        indeterminate calls could have used up fail the assertion too.
        """
        spec = {"pattern": patterns.UNIQUE_SEQUENCE, "f": f or self._raced(), "allow_gaps": allow_gaps}
        self._assert(spec)
        return patterns.sequence_gaps(self.ops, spec["f"])

    def assert_versioned_update(self, f: str, version_arg: str, *, final_version: int | None = None,
                                initial_version: int | None = None) -> None:
        """Optimistic locking held: successful calls of ``f`` (a save) each started from a different version
        (its argument ``version_arg``), each one returning an int returned that version + 1, and the
        ``final_version`` stored afterwards counts every successful save (none was lost)."""
        self._assert({"pattern": patterns.VERSIONED_UPDATE, "f": f, "version_arg": version_arg,
                      "final_version": final_version, "initial_version": initial_version})

    # ----- helpers -------------------------------------------------------------------------------------------

    def _raced(self) -> str:
        return str(self.recorder.config.get("function")) if self.recorder else "call"

    def _record(self, spec: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.add_check(spec)
            self._save_verdict()

    def _assert(self, spec: dict[str, Any]) -> Verdict:
        """Check ``spec`` on the recorded calls, keep it in run.json, raise AssertionError unless valid."""
        verdict = patterns.check_spec(self.ops, spec)
        self._record(spec)
        if verdict.status == "valid":
            return verdict
        lines = [v.message for v in verdict.violations[:10]] + [f"undecided: {u}" for u in verdict.unknowns[:5]]
        more = len(verdict.violations) - 10
        raise AssertionError(f"{spec['pattern']} does not hold ({len(self.ops)} calls recorded):\n  "
                             + "\n  ".join(lines) + (f"\n  ... and {more} more" if more > 0 else "")
                             + self._where(failed=True))

    def _save_verdict(self) -> None:
        """verdict.json as `stress check` writes it (what `stress report` falls back on)."""
        from harness.evaluate import evaluate

        assert self.run_dir is not None
        write_json(self.run_dir / VERDICT_JSON, evaluate(self.run_dir))

    def _where(self, failed: bool) -> str:
        """Where the run directory is, with its report drawn (only for a failure: drawing takes a while)."""
        if self.run_dir is None:
            return ""
        report = "stress report " + str(self.run_dir)
        if failed:
            try:
                from harness.report import render_report

                report = str(render_report(self.run_dir))
            except Exception as exc:  # the assertion's message matters more than the drawing
                report = f"not drawn ({type(exc).__name__}: {exc}); try `stress report {self.run_dir}`"
        return (f"\n  history: {self.run_dir / 'history.jsonl'}\n  report: {report}\n"
                f"  re-check: stress check {self.run_dir}")


# ----- race and hammer ------------------------------------------------------------------------------------------

def _name(fn: Callable[..., Any], name: str | None) -> str:
    return name or getattr(fn, "__name__", None) or type(fn).__name__


def _on_event_loop(fn: Callable[..., Any]) -> bool:
    """Await the calls as tasks when ``fn`` is a coroutine function or an event loop runs here (an async test)."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "func", None)):
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _plan(fn: Callable[..., Any], workers: int, args_for: Callable[[int], Sequence[Any]] | None,
          key: str | Callable[[int], Any] | None, name: str | None, run_dir: Path | str | None,
          config: dict[str, Any]) -> drive.Plan:
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    label = _name(fn, name)
    recorder = Recorder(run_dir, {"function": label, "workers": workers, **config})
    return drive.Plan(fn, label, workers, args_for, key, recorder)


def _result(plan: drive.Plan, attempts: list[Attempt]) -> RaceResult:
    keys = {plan.key_of(worker) for worker in range(plan.workers)}
    plan.recorder.config["keys"] = len(keys)
    plan.recorder.finish()
    return RaceResult(attempts, plan.recorder.run_dir, plan.recorder)


@overload
def race(fn: Callable[..., Coroutine[Any, Any, Any]], workers: int = ..., *,
         args_for: Callable[[int], Sequence[Any]] | None = ..., key: str | Callable[[int], Any] | None = ...,
         name: str | None = ..., run_dir: Path | str | None = ..., timeout: float = ...) -> Awaitable[RaceResult]: ...
@overload
def race(fn: Callable[..., Any], workers: int = ..., *, args_for: Callable[[int], Sequence[Any]] | None = ...,
         key: str | Callable[[int], Any] | None = ..., name: str | None = ..., run_dir: Path | str | None = ...,
         timeout: float = ...) -> Any: ...


def race(fn: Callable[..., Any], workers: int = 50, *, args_for: Callable[[int], Sequence[Any]] | None = None,
         key: str | Callable[[int], Any] | None = None, name: str | None = None, run_dir: Path | str | None = None,
         timeout: float = RACE_TIMEOUT_S) -> Any:
    """Call ``fn`` ``workers`` times, all released at once; classify each call by return or raise.

    ``fn(*args_for(i))`` is called for worker ``i`` (``fn()`` when ``args_for`` is None). A plain function
    runs on ``workers`` threads released at one barrier and the :class:`RaceResult` is returned; a coroutine
    function (or any function inside a running event loop) runs as tasks released by one event, and the
    result is awaitable. ``key`` (a string, or a function of the worker) is what the call acts on in the
    history (default: the function's name), ``name`` its name there. Calls still running after ``timeout``
    seconds fail the race. ``KeyboardInterrupt``/``SystemExit``/cancellation are not swallowed.
    """
    config = {"driver": "race", "pattern": "burst", "duration": None, "timeout": timeout}
    if _on_event_loop(fn):
        async def racing() -> RaceResult:
            plan = _plan(fn, workers, args_for, key, name, run_dir, {**config, "mode": "asyncio"})
            return _result(plan, await drive.race_tasks(plan, timeout))

        return racing()
    plan = _plan(fn, workers, args_for, key, name, run_dir, {**config, "mode": "threads"})
    return _result(plan, drive.race_threads(plan, timeout))


def hammer(fn: Callable[..., Any], workers: int = 8, duration: float = 2.0, *, max_calls: int = MAX_CALLS,
           args_for: Callable[[int], Sequence[Any]] | None = None, key: str | Callable[[int], Any] | None = None,
           name: str | None = None, run_dir: Path | str | None = None, grace: float = HAMMER_GRACE_S) -> Any:
    """Keep calling ``fn`` from ``workers`` workers for ``duration`` seconds, at most ``max_calls`` calls in all.

    Plain functions run on threads, coroutine functions (or any function inside a running event loop) as
    tasks, as in :func:`race`; every worker starts at the same instant and calls again as soon as its call
    ends. Calls still running ``grace`` seconds after the duration fail the hammer. Returns a
    :class:`RaceResult` of every call (awaitable on the asyncio path).
    """
    if duration <= 0 or max_calls < 1:
        raise ValueError(f"hammer needs duration > 0 and max_calls >= 1 (got {duration}, {max_calls})")
    config = {"driver": "hammer", "pattern": "sustained", "duration": duration, "max_calls": max_calls}
    if _on_event_loop(fn):
        async def hammering() -> RaceResult:
            plan = _plan(fn, workers, args_for, key, name, run_dir, {**config, "mode": "asyncio"})
            return _result(plan, await drive.hammer_tasks(plan, duration, max_calls, grace))

        return hammering()
    plan = _plan(fn, workers, args_for, key, name, run_dir, {**config, "mode": "threads"})
    return _result(plan, drive.hammer_threads(plan, duration, max_calls, grace))
