"""Jepsen-style register histories, generated the way Jepsen's etcd test makes them, and a brute-force judge.

The etcd test (``jepsen.etcd``) mixes ``read``, ``write v`` and ``cas [old new]`` with values 0-4 on each
key, a few processes per key, staggered, with timeouts that come back as ``:info``; a process whose op
timed out is replaced by a new one (its id grows by the concurrency), as in Jepsen. Here the ops run
against a real sequential register: every op that takes effect does so at one instant inside its
interval (a timed-out one possibly after its ``:info`` came back, or never), so a generated history is
linearizable by construction. ``corrupt`` seeds one anomaly (a stale read, or a failed cas reported ok).
:func:`lock_history` does the same for one lock, as Jepsen's lock tests use it (acquire and release), and
:func:`txn_history` for Knossos's multi-register: transactions of reads and writes over a few registers.

Events are plain dicts with Jepsen's fields (``process``, ``type``, ``f``, ``value``, ``time``,
``index``); :func:`to_edn` and :func:`to_json` write them in the forms ``stress check-history`` reads.
:func:`brute_force` decides a history from the definition alone, for small histories.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.history.export import Keyword, edn

MS = 1_000_000  # ns
FS = ("read", "write", "cas")


@dataclass
class _Planned:
    """One op of the simulation: who, what, when it was invoked, took effect (or not) and came back."""

    process: int
    key: Any
    f: str
    value: Any
    invoke: int
    point: int | None  # when it took effect; None: never (a timeout that was lost)
    complete: int
    timeout: bool
    type: str = "ok"
    result: Any = None


def etcd_history(rng: random.Random, n_ops: int = 90, *, keys: int = 1, processes: int = 5, values: int = 5,
                 timeout_rate: float = 0.1, initial: Any = None, independent: bool | None = None,
                 corrupt: bool = False) -> list[dict[str, Any]]:
    """A history of ``n_ops`` ops per key: ``processes`` processes per key, values ``0..values-1``.

    ``independent`` writes every value as Jepsen's ``[key value]`` tuple (the default when ``keys > 1``).
    With ``corrupt`` one op of one key lies (see :func:`_corrupt`); the history is then usually, not always,
    non-linearizable: judge it with :func:`brute_force` or the checker.
    """
    independent = keys > 1 if independent is None else independent
    concurrency = processes * keys

    def pick(_thread: int) -> tuple[str, Any]:
        f = rng.choice(FS)
        return f, None if f == "read" else rng.randrange(values) if f == "write" else \
            [rng.randrange(values), rng.randrange(values)]

    planned: list[_Planned] = []
    for k in range(keys):
        planned.extend(_one_key(rng, k, n_ops, k * processes, concurrency, processes, timeout_rate, pick))
        _simulate([p for p in planned if p.key == k], initial)
    if corrupt:
        _corrupt(rng, planned, values)
    return _events(planned, independent)


def lock_history(rng: random.Random, n_ops: int = 40, *, processes: int = 5, timeout_rate: float = 0.1,
                 corrupt: bool = False) -> list[dict[str, Any]]:
    """A history of one lock, as Jepsen's lock tests make them: each process alternates ``acquire`` and
    ``release`` (values nil); an acquire of a held lock fails, and so does a release by a process that does
    not hold it (``:not-held``). With ``corrupt`` one failed acquire claims it succeeded (two holders), which
    is usually, not always, non-linearizable."""
    turns = [0] * processes

    def pick(thread: int) -> tuple[str, Any]:
        turns[thread] += 1
        return ("acquire" if turns[thread] % 2 else "release"), None

    planned = _one_key(rng, 0, n_ops, 0, processes, processes, timeout_rate, pick)
    holder = None
    for op in sorted((op for op in planned if op.point is not None), key=lambda op: op.point):
        if op.f == "acquire" and holder is None:
            holder = op.process
        elif op.f == "release" and holder == op.process:
            holder = None
        else:
            op.type = "fail"
    for op in planned:
        if op.timeout:
            op.type = "info"
    if corrupt:
        failed = [op for op in planned if op.f == "acquire" and op.type == "fail"]
        if failed:
            rng.choice(failed).type = "ok"
    return _events(planned, False)


def txn_history(rng: random.Random, n_ops: int = 40, *, registers: tuple[str, ...] = ("x", "y"), processes: int = 5,
                values: int = 3, timeout_rate: float = 0.1, corrupt: bool = False) -> list[dict[str, Any]]:
    """A history of transactions over ``registers`` (each starts at 0, as Knossos's multi-register data has
    them): each txn is one to three micro-ops ``[:read k nil]`` (its value filled in on an ok completion) or
    ``[:write k v]``, applied at one instant. With ``corrupt`` one ok txn's read returns another value, which is
    usually, not always, non-linearizable (judge it with ``brute_force(events, "multi-register", {"x": 0, ...})``,
    or ``stress check-history --model multi-register --initial '{"x": 0, "y": 0}'``)."""

    def pick(_thread: int) -> tuple[str, Any]:
        return "txn", [[Keyword("read"), Keyword(rng.choice(registers)), None] if rng.random() < 0.5
                       else [Keyword("write"), Keyword(rng.choice(registers)), rng.randrange(values)]
                       for _ in range(rng.randint(1, 3))]

    planned = _one_key(rng, 0, n_ops, 0, processes, processes, timeout_rate, pick)
    state = dict.fromkeys(registers, 0)
    for op in sorted((op for op in planned if op.point is not None), key=lambda op: op.point):
        op.result = []
        for f, k, v in op.value:
            if f == "write":
                state[k] = v
            op.result.append([f, k, state[k]])
    for op in planned:
        if op.timeout:
            op.type, op.result = "info", None
    if corrupt:
        reads = [op for op in planned if op.type == "ok" and any(m[0] == "read" for m in op.result)]
        if reads:
            victim = rng.choice(reads)
            m = next(m for m in victim.result if m[0] == "read")
            m[2] = rng.choice([v for v in range(values) if v != m[2]])
    return _events(planned, False)


def _one_key(rng: random.Random, key: int, n_ops: int, first_thread: int, concurrency: int, processes: int,
             timeout_rate: float, pick: Callable[[int], tuple[str, Any]]) -> list[_Planned]:
    """Plan ``n_ops`` ops of one key: each thread runs one op at a time (``pick(thread)`` gives its :f and
    value), the next after a think time."""
    clock = [rng.randrange(MS) for _ in range(processes)]
    process = [first_thread + i for i in range(processes)]
    out = []
    for _ in range(n_ops):
        t = min(range(processes), key=clock.__getitem__)
        invoke = clock[t] + int(rng.expovariate(1 / (2 * MS)))  # gen/stagger
        f, value = pick(t)
        timeout = rng.random() < timeout_rate
        if timeout:
            complete = invoke + 5 * MS + rng.randrange(MS)
            # A timed-out request may still land, even after the client gave up on it.
            point = invoke + rng.randrange(complete - invoke + 5 * MS) if rng.random() < 0.5 else None
        else:
            complete = invoke + 1 + int(rng.lognormvariate(0.0, 0.7) * MS)
            point = invoke + 1 + rng.randrange(complete - invoke - 1) if complete - invoke > 1 else complete
        out.append(_Planned(process[t], key, f, value, invoke, point, complete, timeout))
        clock[t] = complete
        if timeout:  # Jepsen: a process whose op crashed is replaced by a fresh one
            process[t] += concurrency
    return out


def _simulate(ops: list[_Planned], initial: Any) -> None:
    """Apply the ops that took effect, in the order they did, to one register; set types and results."""
    state = initial
    for op in sorted((op for op in ops if op.point is not None), key=lambda op: op.point):
        if op.f == "read":
            op.result = state
        elif op.f == "write":
            state = op.value
        elif state == op.value[0]:
            state = op.value[1]
        else:
            op.type = "fail"
    for op in ops:
        if op.timeout:
            op.type, op.result = "info", None


def _corrupt(rng: random.Random, ops: list[_Planned], values: int) -> None:
    """Make one op lie: an ok read returns another value, or a failed cas claims it succeeded."""
    reads = [op for op in ops if op.f == "read" and op.type == "ok"]
    failed = [op for op in ops if op.f == "cas" and op.type == "fail"]
    if failed and (not reads or rng.random() < 0.5):
        rng.choice(failed).type = "ok"
        return
    victim = rng.choice(reads) if reads else ops[0]
    if victim.f != "read":
        victim.f, victim.value, victim.type, victim.timeout = "read", None, "ok", False
    victim.result = rng.choice([v for v in range(values) if v != victim.result])


def _events(ops: Iterable[_Planned], independent: bool) -> list[dict[str, Any]]:
    """Invoke and completion events of ``ops``, merged by time, numbered like a Jepsen history."""
    timed: list[tuple[int, int, dict[str, Any]]] = []
    for n, op in enumerate(ops):
        invoke_value = op.value
        done_value = op.result if op.f == "read" or (op.f == "txn" and op.result is not None) else op.value
        if independent:
            invoke_value, done_value = [op.key, invoke_value], [op.key, done_value]
        timed.append((op.invoke, 2 * n, {"process": op.process, "type": "invoke", "f": op.f, "value": invoke_value}))
        timed.append((op.complete, 2 * n + 1, {"process": op.process, "type": op.type, "f": op.f,
                                               "value": done_value}))
    timed.sort(key=lambda e: (e[0], e[1]))
    return [{**event, "time": t, "index": i} for i, (t, _, event) in enumerate(timed)]


# ------------------------------------------------------------------------------------------------ writers


def _edn_op(event: dict[str, Any], fields: Iterable[str]) -> str:
    op = {name: Keyword(event[name]) if name in ("type", "f") else event[name] for name in fields if name in event}
    return edn(op)


def to_edn(events: list[dict[str, Any]], form: str = "lines", *, times: bool = True) -> str:
    """EDN text: ``lines`` (one map per line, as Jepsen's history.edn), ``vector`` or ``list`` (Knossos)."""
    fields = ["index", "process", "type", "f", "value", *(["time"] if times else [])]
    lines = [_edn_op(e, fields) for e in events]
    if form == "lines":
        return "".join(line + "\n" for line in lines)
    opener, closer = {"vector": "[]", "list": "()"}[form]
    return opener + "\n ".join(lines) + closer + "\n"


def to_json(events: list[dict[str, Any]]) -> str:
    """Jepsen JSON: an array of op objects, one per line (what `stress export` writes)."""
    return "[\n" + ",\n".join(json.dumps(e) for e in events) + "\n]\n"


# -------------------------------------------------------------------------------------------- brute force


@dataclass(frozen=True)
class _BruteOp:
    f: str
    value: Any
    invoke: float
    complete: float  # +inf: may take effect any time after its invoke, or never
    definite: bool


def brute_force(events: list[dict[str, Any]], model: str = "cas-register", initial: Any = None,
                nil_read: str = "unknown") -> str:
    """"valid" or "invalid", from the definition: some subset of the indeterminate ops and some order of
    them and the ok ops that respects real time is a legal run of the register (or, with ``model="mutex"``,
    of a lock that starts free; with ``model="multi-register"``, of registers that start as ``initial``, a dict,
    read and written by txns). Every order is tried (depth first, no memo), key by key; only for small
    histories. Written apart from the checker on
    purpose (its own pairing, its own register): a reference must not share the checker's mistakes."""
    timed = all("time" in e for e in events)
    by_key: dict[Any, list[_BruteOp]] = {}
    open_: dict[Any, tuple[int, dict[str, Any]]] = {}
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None, float, float]] = []
    for position, event in enumerate(events):
        t = event["time"] if timed else position
        if event["type"] == "invoke":
            open_[event["process"]] = (len(pairs), event)
            pairs.append((event, None, t, float("inf")))
        else:
            slot, invoke = open_.pop(event["process"])
            pairs[slot] = (invoke, event, pairs[slot][2], t)
    independent = model != "multi-register" and all(isinstance(e["value"], list) and len(e["value"]) == 2
                                                    and (e["f"] != "cas" or isinstance(e["value"][1], list))
                                                    for e in events)
    for invoke, done, start, end in pairs:
        kind = done["type"] if done else "info"
        if kind == "fail":
            continue
        key, value = (invoke["value"][0], invoke["value"][1]) if independent else (None, invoke["value"])
        if invoke["f"] == "read":
            if kind != "ok":
                continue
            value = done["value"][1] if independent else done["value"]
            if value is None and nil_read == "unknown":
                continue
        if invoke["f"] == "cas" and model == "register":
            raise ValueError("the register model has no cas")
        if invoke["f"] == "txn":  # an ok txn's reads say what they saw; another's, what its value says (nil: nothing)
            micro = done["value"] if kind == "ok" else invoke["value"]
            if kind != "ok" and not any(m[0] == "write" for m in micro):
                continue  # it may not have happened, and it writes nothing
            value = tuple((str(f), str(k), v) for f, k, v in micro
                          if f == "write" or v is not None or (kind == "ok" and nil_read != "unknown"))
            if not value:
                continue
        definite = kind == "ok"
        by_key.setdefault(key, []).append(_BruteOp(invoke["f"], value, start, end if definite else float("inf"),
                                                   definite))
    start = False if model == "mutex" else dict(initial or {}) if model == "multi-register" else initial
    return "valid" if all(_linearizable(ops, start) for ops in by_key.values()) else "invalid"


def _linearizable(ops: list[_BruteOp], state: Any) -> bool:
    if not any(op.definite for op in ops):
        return True
    # The next op may be any one invoked no later than every pending ok op completes (ties are concurrent).
    deadline = min(op.complete for op in ops if op.definite)
    for i, op in enumerate(ops):
        if op.invoke > deadline:  # some ok op completed before this one began: that one goes first
            continue
        legal, after = _step(state, op)
        if legal and _linearizable(ops[:i] + ops[i + 1:], after):
            return True
    return False


def _step(state: Any, op: _BruteOp) -> tuple[bool, Any]:
    if op.f == "txn":  # the multi-register: state is a dict, copied on a write
        after = state
        for f, k, v in op.value:
            if f == "write":
                after = {**after, k: v}
            elif after.get(k) != v:
                return False, state
        return True, after
    if op.f == "acquire":  # the mutex: state is whether it is held
        return state is False, True
    if op.f == "release":
        return state is True, False
    if op.f == "read":
        return state == op.value, state
    if op.f == "write":
        return True, op.value
    expected, new = op.value
    return (True, new) if state == expected else (False, state)
