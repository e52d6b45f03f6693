"""The history of a user's calls, in the harness's own run-directory format.

Every call becomes an op of ``history.jsonl`` (invoke and completion events, monotonic ns): ``process`` is
the worker, ``workload`` is ``calls``, ``f`` the function's name, ``key`` what it acted on, the invoke's
``value`` its arguments by parameter name and the completion's ``value`` what it returned. A call that
raised is ``fail`` with the exception's name in ``error`` (``info`` for a timeout-like error: it may still
have taken effect). run.json names ``workloads.recorded_calls`` as the checker, so `stress check` and
`stress report` work on the directory as on any run.

Inside a raced function, calls of functions wrapped with :func:`recorded` are recorded on the worker's
own (the call of the raced function itself is then left out: one op per worker is open at a time, as
the history requires). The events are kept in memory while the workers run and written, ordered by
time, when the race ends (:meth:`Recorder.finish`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import os
import platform
import secrets
import tempfile
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from harness.history.events import FAIL, INFO, INVOKE, OK, HistoryWriter, Op, pair_ops, time_ns, write_json
from harness.history.rundir import FINAL_STATE, HISTORY, RUN_FORMAT, RUN_JSON
from workloads.recorded_calls import NAME as WORKLOAD
from workloads.recorded_calls import SPEC as WORKLOAD_SPEC

RECORDED_BY = "harness.testing"
RUNS_DIR_ENV = "DDB_STRESS_RUNS_DIR"  # where run directories go when no run_dir is given (default: the temp dir)
# Errors after which the call may or may not have taken effect (the request may have reached the server).
INDETERMINATE_ERRORS = frozenset({"ReadTimeoutError", "ConnectionClosedError", "ResponseStreamingError",
                                  "TimeoutError", "ReadTimeout", "IncompleteRead"})
MAX_TEXT = 200  # characters kept of a repr or an exception message

F = TypeVar("F", bound=Callable[..., Any])


def error_name(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def completion_type(exc: BaseException | None) -> str:
    """``ok`` for a return, ``info`` for a timeout-like error, ``fail`` for any other exception."""
    if exc is None:
        return OK
    names = {cls.__name__ for cls in type(exc).__mro__}
    return INFO if names & INDETERMINATE_ERRORS else FAIL


def jsonable(value: Any) -> Any:
    """``value`` if the history can store it as JSON, else its (shortened) repr: a client or a lock object
    is shown, not serialised."""
    try:
        orjson.dumps(value, default=_history_default)
        return value
    except TypeError:
        return repr(value)[:MAX_TEXT]


def _history_default(obj: Any) -> Any:
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, (set, frozenset, bytes)):
        return str(obj)
    raise TypeError(type(obj).__name__)


def arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name (``args``/``kwargs`` for what cannot be bound)."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": [jsonable(a) for a in args], "kwargs": {k: jsonable(v) for k, v in kwargs.items()}}
    return {name: jsonable(value) for name, value in bound.arguments.items()}


def new_run_id() -> str:
    """Sortable and unique: UTC time plus 4 random hex digits (as `stress run` names its runs)."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def default_run_dir(run_id: str) -> Path:
    """``$DDB_STRESS_RUNS_DIR/<run-id>``, else ``<temp dir>/ddb-stress-runs/<run-id>``."""
    root = os.environ.get(RUNS_DIR_ENV) or os.path.join(tempfile.gettempdir(), "ddb-stress-runs")
    return Path(root) / run_id


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("ddb-stress", "boto3", "botocore"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    return found


@dataclass
class Frame:
    """The worker a piece of code runs for (in a context variable: per thread, per asyncio task)."""

    recorder: Recorder
    worker: int
    round: int | None = None  # hammer: the worker's call number (a report draws the n-th calls as one race)
    inner: bool = False  # a recorded call was made: the raced call itself is left out of the history
    depth: int = 0  # recorded calls open right now (only the outermost is recorded)


_frame: ContextVar[Frame | None] = ContextVar("ddb_stress_frame", default=None)


class Recorder:
    """The events of one race or hammer and the run directory they are written to."""

    def __init__(self, run_dir: Path | str | None, config: dict[str, Any]) -> None:
        self.run_id = new_run_id()
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(self.run_id)
        if (self.run_dir / HISTORY).exists():
            raise ValueError(f"{self.run_dir} already holds a recorded run: give each race its own run_dir")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.started_ns = time_ns()
        self.config = {"workloads": [WORKLOAD_SPEC], **config, "checks": []}
        self.meta: dict[str, Any] = {}
        self._events: list[tuple[int, int, dict[str, Any]]] = []  # (time, order, event)
        self._lock = threading.Lock()

    # ----- recording ------------------------------------------------------------------------------------------

    def _add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append((event["time"], len(self._events), {"workload": WORKLOAD, **event}))

    def op(self, frame: Frame, f: str, key: str, value: Any, invoked: int, completed: int, result: Any,
           exc: BaseException | None) -> None:
        """Record a whole call at once (the raced call itself, known to be an op only when it returns)."""
        self._add({"type": INVOKE, "process": frame.worker, "f": f, "key": key, "value": value, "time": invoked,
                   **_round(frame)})
        self._complete(frame, f, key, completed, result, exc)

    def invoke(self, frame: Frame, f: str, key: str, value: Any) -> int:
        """Record that a call starts now; returns its time."""
        now = time_ns()
        self._add({"type": INVOKE, "process": frame.worker, "f": f, "key": key, "value": value, "time": now,
                   **_round(frame)})
        return now

    def _complete(self, frame: Frame, f: str, key: str, at: int, result: Any, exc: BaseException | None) -> None:
        event = {"type": completion_type(exc), "process": frame.worker, "f": f, "key": key,
                 "value": None if exc is not None else jsonable(result), "time": at, **_round(frame)}
        if exc is not None:
            event["error"] = error_name(exc)
            message = str(exc)
            if message:
                event["message"] = message[:MAX_TEXT]
        self._add(event)

    def complete(self, frame: Frame, f: str, key: str, result: Any, exc: BaseException | None) -> None:
        """Record that a call ends now, returning ``result`` or raising ``exc``."""
        self._complete(frame, f, key, time_ns(), result, exc)

    # ----- the run directory -----------------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Every event in time order, indexed (a worker's events keep their order at equal times)."""
        with self._lock:
            ordered = sorted(self._events, key=lambda entry: (entry[0], entry[1]))
        return [{"index": index, **event} for index, (_, _, event) in enumerate(ordered)]

    def ops(self) -> list[Op]:
        """The recorded calls as paired ops."""
        return pair_ops(self.events())

    def finish(self, **meta: Any) -> None:
        """Write history.jsonl, run.json and final_state.json."""
        with HistoryWriter(self.run_dir / HISTORY) as writer:
            for event in self.events():
                event.pop("index")
                writer.append(event)
        self.meta = {
            "format": RUN_FORMAT, "run_id": self.run_id, "started_at": self.started_at,
            "recorded_by": RECORDED_BY, "test": os.environ.get("PYTEST_CURRENT_TEST", "").removesuffix(" (call)"),
            "config": self.config,
            "backend": {"kind": "your code", "endpoint": None,
                        "version": f"{self.config.get('driver')}({self.config.get('function')}) of harness.testing"},
            "versions": _versions(), "wall_s": round((time_ns() - self.started_ns) / 1e9, 3), **meta,
        }
        write_json(self.run_dir / RUN_JSON, self.meta)
        write_json(self.run_dir / FINAL_STATE, {WORKLOAD: {}})

    def add_check(self, spec: dict[str, Any]) -> None:
        """Keep a checker spec in run.json, so `stress check` runs the check the test asserted."""
        if spec not in self.config["checks"]:
            self.config["checks"].append(spec)
        write_json(self.run_dir / RUN_JSON, self.meta)


# ----- recorded functions -----------------------------------------------------------------------------------

def recorded(fn: F | None = None, *, name: str | None = None, key: str | Callable[..., Any] | None = None) -> Any:
    """Record every call of ``fn`` made inside ``race``/``hammer`` as an op of its own (a no-op elsewhere).

    Use it on the steps the checkers look at (``acquire`` and ``release`` of a lock, a counter's ``next``, an
    optimistic ``save``)::

        @recorded(key="name")
        def acquire(table, name, owner): ...

    ``name`` is the op's ``f`` (default: the function's name). ``key`` is what the call acts on: the name
    of one of its parameters (that argument's value), or a function called with the call's arguments;
    default: the function's name, i.e. every call on one key. Works on plain and ``async`` functions.
    """
    if fn is None:
        return functools.partial(recorded, name=name, key=key)
    f = name or getattr(fn, "__name__", "call")

    def begin(frame: Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        frame.inner = True
        frame.depth += 1
        given = arguments(fn, args, kwargs)
        if key is None:
            where = f
        elif isinstance(key, str):
            where = str(given.get(key, f"<no argument {key}>"))
        else:
            where = str(key(*args, **kwargs))
        frame.recorder.invoke(frame, f, where, given)
        return where

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            frame = _frame.get()
            if frame is None or frame.depth:
                return await fn(*args, **kwargs)
            where = begin(frame, args, kwargs)
            try:
                value = await fn(*args, **kwargs)
            except Exception as exc:
                frame.recorder.complete(frame, f, where, None, exc)
                raise
            finally:
                frame.depth -= 1
            frame.recorder.complete(frame, f, where, value, None)
            return value

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        frame = _frame.get()
        if frame is None or frame.depth:
            return fn(*args, **kwargs)
        where = begin(frame, args, kwargs)
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            frame.recorder.complete(frame, f, where, None, exc)
            raise
        finally:
            frame.depth -= 1
        frame.recorder.complete(frame, f, where, value, None)
        return value

    return wrapper


def _round(frame: Frame) -> dict[str, int]:
    return {} if frame.round is None else {"round": frame.round}


def enter(recorder: Recorder, worker: int, round_: int | None = None) -> tuple[Frame, Any]:
    """Make the calling thread or task record for ``worker``; returns the frame and the token for :func:`leave`."""
    frame = Frame(recorder, worker, round_)
    return frame, _frame.set(frame)


def leave(token: Any) -> None:
    """Undo :func:`enter`."""
    _frame.reset(token)
