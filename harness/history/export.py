"""Export a run's history in Jepsen's shape, for Knossos, Elle or any tool that reads Jepsen histories.

Every history event becomes one Jepsen op ``{index, type, process, f, value, time}``:

* ``type`` is ``invoke`` / ``ok`` / ``fail`` / ``info``; ``process`` the worker id (``nemesis`` for faults);
* ``value`` is Jepsen's independent tuple ``[key, v]`` (one register per key), where ``v`` is
  ``[expected, new]`` for ``cas``, the value read for a ``read`` completion (``nil`` at its invoke),
  and the written value for ``register``, ``write`` and every other op; a completion carries the
  same ``v`` as its invoke, as in Jepsen. Fault events keep their own value, without a key;
* ``time`` is nanoseconds since the first event; ``error`` is kept when the event has one.

Formats: ``jepsen-json`` (a JSON array, one op per line) and ``edn`` (one EDN map per line with
keyword keys, as in Jepsen's ``history.edn``: ``{:index 0, :type :invoke, :process 3, :f :cas, ...}``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from harness.history.events import INVOKE, NEMESIS
from harness.history.rundir import load_run

FORMATS = ("jepsen-json", "edn")
KEYWORD = re.compile(r"^[A-Za-z_*!?][A-Za-z0-9_*!?+<>=.\-]*$")


class Keyword(str):
    """A string written as an EDN keyword (``:cas``); plain JSON writes it as a string."""

    __slots__ = ()


def export_history(run_dir: Path | str, fmt: str) -> str:
    """The history of ``run_dir`` as text in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    _, events, _ = load_run(Path(run_dir))
    ops = jepsen_ops(events)
    if fmt == "edn":
        return "".join(edn(op) + "\n" for op in ops)
    return "[\n" + ",\n".join(json.dumps(op, separators=(", ", ": ")) for op in ops) + "\n]\n"


def jepsen_ops(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History events as Jepsen ops, in index order (completions reuse their invoke's value)."""
    ordered = sorted(events, key=lambda e: e.get("index", 0))
    start = min((e["time"] for e in ordered), default=0)
    invoked: dict[Any, dict[str, Any]] = {}
    ops = []
    for event in ordered:
        process = event.get("process")
        if event["type"] == INVOKE:
            invoked[process] = event
            invoke = event
        else:
            invoke = invoked.pop(process, event)
        ops.append(jepsen_op(event, invoke, start))
    return ops


def jepsen_op(event: dict[str, Any], invoke: dict[str, Any], start: int) -> dict[str, Any]:
    """One event as a Jepsen op; ``invoke`` is the event that opened it (itself for an invoke)."""
    process = event.get("process")
    nemesis = process == NEMESIS
    op: dict[str, Any] = {
        "index": event.get("index"),
        "type": Keyword(event["type"]),
        "process": Keyword(NEMESIS) if nemesis else process,
        "f": _keyword(str(event.get("f", ""))),
        "value": event.get("value") if nemesis else [event.get("key"), op_value(event, invoke)],
        "time": event["time"] - start,
    }
    if event.get("error"):
        op["error"] = event["error"]
    return op


def op_value(event: dict[str, Any], invoke: dict[str, Any]) -> Any:
    """The register value of one event: ``[expected, new]`` for cas, the value read, or the written value."""
    f = event.get("f")
    value = invoke.get("value")
    if f == "read":
        return None if event["type"] == INVOKE else event.get("value")
    if f == "cas" and isinstance(value, dict) and {"expected", "new"} <= value.keys():
        return [value["expected"], value["new"]]
    return value


def _keyword(text: str) -> str:
    return Keyword(text) if KEYWORD.match(text) else text


def edn(value: Any) -> str:
    """``value`` as EDN text: dicts become maps (keyword keys where possible), lists vectors."""
    if isinstance(value, Keyword):
        return f":{value}"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nil"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid EDN
    if isinstance(value, dict):
        return "{" + ", ".join(f"{edn(_keyword(str(k)))} {edn(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + " ".join(edn(v) for v in value) + "]"
    return edn(str(value))
