"""The history: an append-only, Jepsen-style record of invoke and completion events.

Every operation a worker issues is written as two JSON lines in ``history.jsonl``:

* an ``invoke`` event when the request is about to leave the client, and
* a completion event (``ok`` / ``fail`` / ``info``) when its outcome is known.

Fields of an event (``time`` is ``time.monotonic_ns()``, which is system-wide, so histories
written by several processes on one machine can be merged by time):

``index``     position in the file (0, 1, 2, ...)
``type``      ``invoke`` | ``ok`` (applied) | ``fail`` (definitely not applied) |
              ``info`` (indeterminate: may or may not have been applied)
``process``   worker id (int); fault events use the string ``"nemesis"``
``workload``  workload name, e.g. ``registration``
``f``         operation name, e.g. ``register``, ``cas``, ``read``
``key``       the item key the operation targets
``value``     invoke: what the op tries to write; completion: what it observed/wrote
``time``      monotonic nanoseconds

Completion events may also carry ``error`` (AWS error code or exception name),
``attempts`` (HTTP attempts the SDK made), ``old`` (the item returned by
``ReturnValuesOnConditionCheckFailure=ALL_OLD``, as plain JSON), ``raw`` (the raw SDK outcome
when it differs from the resolved ``type``) and ``round``.

Lines are flushed one by one, so a run that dies part-way still leaves valid JSONL up to the
last completed event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
COMPLETION_TYPES = (OK, FAIL, INFO)
NEMESIS = "nemesis"

CONDITIONAL_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"


class HistoryError(ValueError):
    """A history file that cannot be read: names the file and the line."""


class HistoryWriter:
    """Streams events to a JSONL file, one flushed line per event."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._index = 0

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Assign the next index to ``event``, write it as one line and return it."""
        event = {"index": self._index, **event}
        self._index += 1
        self._fh.write(orjson.dumps(event, default=_json_default) + b"\n")
        return event

    def invoke(self, process: int, workload: str, f: str, key: str, value: Any, **extra: Any) -> int:
        """Record an invoke event now; returns its monotonic time in ns."""
        now = time_ns()
        self.append(
            {"type": INVOKE, "process": process, "workload": workload, "f": f, "key": key,
             "value": value, "time": now, **extra}
        )
        return now

    def complete(self, process: int, workload: str, f: str, key: str, type_: str, value: Any = None,
                 **extra: Any) -> int:
        """Record a completion event (``ok``/``fail``/``info``) now; returns its time in ns."""
        now = time_ns()
        fields = {k: v for k, v in extra.items() if v is not None}
        self.append(
            {"type": type_, "process": process, "workload": workload, "f": f, "key": key,
             "value": value, "time": now, **fields}
        )
        return now

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def time_ns() -> int:
    """The clock every event uses (system-wide monotonic nanoseconds)."""
    return time.monotonic_ns()


def _json_default(obj: Any) -> Any:
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Serialise like the history does (Decimal → number, sets → sorted lists)."""
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_INDENT_2)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Load every event of a history file; raises HistoryError naming the bad line: not JSON, not an event,
    or an invoke/completion that breaks the pairing (an invoke left open at the end is fine: the run died)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise HistoryError(f"{path}: no such history file") from exc
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read ({exc.strerror})") from exc
    if not data.strip():
        raise HistoryError(f"{path}: history is empty")
    events = []
    pairing = _Pairing(path)
    lines = data.split(b"\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            truncated = lineno == len(lines) and not data.endswith(b"\n")
            what = "truncated (no newline)" if truncated else "not JSON"
            raise HistoryError(f"{path}:{lineno}: {what}: {exc}") from exc
        if not isinstance(event, dict) or "type" not in event or "time" not in event:
            raise HistoryError(f"{path}:{lineno}: not a history event (needs 'type' and 'time')")
        pairing.check(event, lineno)
        events.append(event)
    return events


class _Pairing:
    """Jepsen's rule, enforced while reading: a process has at most one op open, and each completion closes
    the op its process invoked last. A duplicated or stray line would otherwise be dropped (or open a second
    op) without a word, and the checkers would judge a history that never happened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.open: dict[Any, int] = {}  # process → line of its open invoke

    def check(self, event: dict[str, Any], lineno: int) -> None:
        """Raise HistoryError naming ``lineno`` when ``event`` breaks the pairing."""
        process, kind = event.get("process"), event["type"]
        if process == NEMESIS:
            return
        where = f"{self.path}:{lineno}"
        if kind == INVOKE:
            if process in self.open:
                raise HistoryError(f"{where}: second invoke of process {process!r} while its invoke at line "
                                   f"{self.open[process]} has no completion (unpaired invoke)")
            self.open[process] = lineno
        elif kind in COMPLETION_TYPES and self.open.pop(process, None) is None:
            raise HistoryError(f"{where}: {kind} completion of process {process!r} has no open invoke "
                               "(a duplicated or stray completion)")


@dataclass
class Op:
    """One operation: an invoke paired with its completion (if any)."""

    index: int
    process: int | str
    workload: str
    f: str
    key: str
    value: Any
    invoke_time: int
    type: str = INFO
    complete_time: int | None = None
    result: Any = None
    error: str | None = None
    attempts: int = 1
    old: dict[str, Any] | None = None
    complete_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_ns(self) -> int | None:
        """Completion minus start, or None for an op that never completed.

        The start is the invoke time, or under --rate the earlier time the op was due (``intended``),
        so waiting for the rate limiter counts (no coordinated omission).
        """
        if self.complete_time is None:
            return None
        return self.complete_time - min(self.invoke_time, self.extra.get("intended", self.invoke_time))

    @property
    def outcome(self) -> str:
        """One of ``ok``, ``conditional_failed``, ``indeterminate``, ``error``."""
        if self.type == OK:
            return "ok"
        if self.type == INFO:
            return "indeterminate"
        if self.error in (CONDITIONAL_FAILED, TRANSACTION_CANCELED):
            return "conditional_failed"
        return "error"


_OP_FIELDS = {"index", "type", "process", "workload", "f", "key", "value", "time", "error",
              "attempts", "old"}


def pair_ops(events: Iterable[dict[str, Any]]) -> list[Op]:
    """Pair each invoke with the next completion of the same process (Jepsen's rule).

    Invokes that never completed (the run died) become ``info`` ops with no completion time:
    they may or may not have happened. Fault (nemesis) events are skipped.
    """
    open_ops: dict[Any, Op] = {}
    ops: list[Op] = []
    for ev in events:
        process = ev.get("process")
        if process == NEMESIS:
            continue
        kind = ev["type"]
        if kind == INVOKE:
            op = Op(index=ev["index"], process=process, workload=ev.get("workload", ""), f=ev.get("f", ""),
                    key=ev.get("key", ""), value=ev.get("value"), invoke_time=ev["time"],
                    extra={k: v for k, v in ev.items() if k not in _OP_FIELDS})
            open_ops[process] = op
            ops.append(op)
        elif kind in COMPLETION_TYPES:
            op = open_ops.pop(process, None)
            if op is None:
                continue
            op.type = kind
            op.complete_time = ev["time"]
            op.result = ev.get("value")
            op.error = ev.get("error")
            op.attempts = ev.get("attempts", 1)
            op.old = ev.get("old")
            op.complete_index = ev["index"]
            op.extra.update({k: v for k, v in ev.items() if k not in _OP_FIELDS})
    return ops


def fault_events(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The events the fault injector (nemesis) recorded."""
    return (ev for ev in events if ev.get("process") == NEMESIS)


def ops_by_workload(ops: Iterable[Op]) -> dict[str, list[Op]]:
    """Group ops by workload name, keeping history order."""
    grouped: dict[str, list[Op]] = {}
    for op in ops:
        grouped.setdefault(op.workload, []).append(op)
    return grouped


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename), so readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(dumps(obj))
    tmp.replace(path)
