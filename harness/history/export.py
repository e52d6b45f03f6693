"""Export a run's history in Jepsen's shape, for Knossos, Elle or any tool that reads Jepsen histories.

Every history event becomes one Jepsen op ``{index, type, process, f, value, time}``:

* ``type`` is ``invoke`` / ``ok`` / ``fail`` / ``info``; ``process`` the worker id (``nemesis`` for faults);
* ``value`` is Jepsen's independent tuple ``[key, v]`` (one register per key): ``[expected, new]`` for a
  ``cas`` recorded as ``{expected, new}`` (role-update's), the value read for a ``read`` completion (``nil`` at
  its invoke), else the op's own value. A workload whose other ops are register ops says how they read
  (``Workload.register_op``): registration's put-if-absent (and its sustained claim) and
  idempotent-registration's logical request (its retries inside it) are ``:cas [nil request-id]``,
  registration's release ``:cas [request-id nil]``. A completion carries the same ``v`` as its invoke, as in
  Jepsen. Fault events keep their own value, without a key;
* a workload whose keys start the race holding a value (role-update's ``member``, ``register_initial``) has it
  as each key's first op: an ``ok`` ``:write`` by process -1 (the setup) at time 0, so Knossos's
  ``cas-register`` or ``stress check-history`` need no initial value of their own; and every key of a register
  workload (``register_attribute``) ends with an ``ok`` ``:read`` by process -1 of what the final state holds
  (read after every op ended, as the harness's own checkers read it: a write acknowledged and then lost is
  not linearizable there either; ``nil`` for an absent item);
* when the run raced several workloads (each on its table of its own), a key is ``workload/key``, so two
  tables' items never read as one register;
* ``index`` is the op's place in the export (the history's own index, after the setup ops); ``time`` is
  nanoseconds since the first event (1 ns later when there are setup ops, which come first); ``error`` is kept
  when the event has one.

Formats: ``jepsen-json`` (a JSON array, one op per line) and ``edn`` (one EDN map per line with
keyword keys, as in Jepsen's ``history.edn``: ``{:index 0, :type :invoke, :process 3, :f :cas, ...}``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from harness.history.events import INVOKE, NEMESIS, OK
from harness.history.rundir import load_run

FORMATS = ("jepsen-json", "edn")
KEYWORD = re.compile(r"^[A-Za-z_*!?][A-Za-z0-9_*!?+<>=.\-]*$")
SETUP_PROCESS = -1  # the process of the setup writes (an integer: some of Jepsen's tools expect one)


class Keyword(str):
    """A string written as an EDN keyword (``:cas``); plain JSON writes it as a string."""

    __slots__ = ()


class Registers(Protocol):
    """What the export asks of a workload (``workloads.base.Workload`` answers): its ops as register ops."""

    register_attribute: str | None
    register_initial: Any

    def register_op(self, f: str, value: Any) -> tuple[str, Any] | None: ...


def export_history(run_dir: Path | str, fmt: str, resolve: Callable[[str], Registers | None] | None = None) -> str:
    """The history of ``run_dir`` as text in format ``fmt`` (one of :data:`FORMATS`). ``resolve`` finds the
    workload of each spec in run.json (a name, or a user's ``module:Class``; None when it cannot), to say how its
    ops read as register ops."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    meta, events, final_state = load_run(Path(run_dir))
    workloads: dict[str, Registers] = {}
    if resolve is not None:
        for spec in (meta.get("config") or {}).get("workloads") or []:
            found = resolve(str(spec))
            if found is not None:
                workloads[getattr(found, "name", str(spec))] = found
    ops = jepsen_ops(events, workloads, final_state)
    if fmt == "edn":
        return "".join(edn(op) + "\n" for op in ops)
    return "[\n" + ",\n".join(json.dumps(op, separators=(", ", ": ")) for op in ops) + "\n]\n"


def jepsen_ops(events: list[dict[str, Any]], workloads: Mapping[str, Registers] | None = None,
               final_state: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """History events as Jepsen ops, in index order (completions reuse their invoke's value), after the setup
    writes of the keys whose workload starts them holding a value, and before the final reads of the register
    workloads' keys in ``final_state`` (workload -> key -> stored item or None)."""
    workloads = workloads or {}
    ordered = sorted(events, key=lambda e: e.get("index", 0))
    raced = [e for e in ordered if e.get("process") != NEMESIS and e.get("key") is not None]
    qualify = len({e.get("workload") for e in raced}) > 1

    def key_of(workload: Any, key: Any) -> Any:
        return f"{workload}/{key}" if qualify else key

    first_seen = {(e.get("workload"), e["key"]): None for e in raced}  # in the order the keys were first raced
    setup = [_setup_op(type_, "write", key_of(name, key), workloads[name].register_initial, 0)
             for name, key in first_seen if name in workloads and workloads[name].register_initial is not None
             for type_ in (INVOKE, OK)]
    start = min((e["time"] for e in ordered), default=0) - (1 if setup else 0)
    invoked: dict[Any, dict[str, Any]] = {}
    ops = setup
    for event in ordered:
        process = event.get("process")
        if event["type"] == INVOKE:
            invoked[process] = event
            invoke = event
        else:
            invoke = invoked.pop(process, event)
        workload = event.get("workload", "")
        ops.append(jepsen_op(event, invoke, start, workloads.get(workload), key_of(workload, event.get("key"))))
    end = max((e["time"] for e in ordered), default=start) - start + 1
    for name, key in sorted(first_seen):
        attribute = getattr(workloads.get(name), "register_attribute", None)
        stored = (final_state or {}).get(name)
        if attribute is None or not isinstance(stored, dict) or key not in stored:
            continue
        value = stored[key].get(attribute) if isinstance(stored[key], dict) else None
        ops += [_setup_op(INVOKE, "read", key_of(name, key), None, end),
                _setup_op(OK, "read", key_of(name, key), value, end)]
    return [{"index": n, **op} for n, op in enumerate(ops)]


def _setup_op(type_: str, f: str, key: Any, value: Any, time: int) -> dict[str, Any]:
    """An op of the setup process (a key's starting write, its final read), as a Jepsen op without its index."""
    return {"type": Keyword(type_), "process": SETUP_PROCESS, "f": Keyword(f), "value": [key, value], "time": time}


def jepsen_op(event: dict[str, Any], invoke: dict[str, Any], start: int, registers: Registers | None = None,
              key: Any = None) -> dict[str, Any]:
    """One event as a Jepsen op (without its index); ``invoke`` is the event that opened it (itself for an invoke),
    ``registers`` its workload, ``key`` its key in the export (default: the event's)."""
    process = event.get("process")
    nemesis = process == NEMESIS
    f = str(event.get("f", ""))
    as_register = None if nemesis or registers is None else registers.register_op(f, invoke.get("value"))
    if as_register is None:
        value = op_value(event, invoke)
    else:
        f, value = as_register
        if f == "read":
            value = None if event["type"] == INVOKE else event.get("value")
    op: dict[str, Any] = {
        "type": Keyword(event["type"]),
        "process": Keyword(NEMESIS) if nemesis else process,
        "f": _keyword(f),
        "value": event.get("value") if nemesis else [event.get("key") if key is None else key, value],
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
