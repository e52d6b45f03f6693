"""Fault specs: what a ``--fault`` string asks the nemesis to do.

``latency:20ms`` / ``latency:20ms±5ms`` (or ``+-``)
    delay every request by that much (uniform jitter) before it is forwarded.
``lost-ack:P``
    with probability P forward the request, read the server's whole response (the write is
    applied) and close the client connection without sending it: the client cannot know.
``reset:P``
    with probability P reset the client connection (TCP RST) before forwarding anything.
``stall:P`` / ``stall:P,hold=5s``
    with probability P hold the request without forwarding it for ``hold`` (default 30 s,
    at most 600 s), then close the client connection.
``crash:every=10s``
    SIGKILL and restart the managed DynamoDB Local while a workload races (executed by
    :class:`harness.nemesis.crash.CrashLoop`; races wait for the restart).

The per-request kinds are executed by :class:`harness.nemesis.proxy.FaultProxy`. Every injected
fault becomes a history event through :func:`fault_event`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.history.events import INFO, NEMESIS

LATENCY = "latency"
LOST_ACK = "lost-ack"
RESET = "reset"
STALL = "stall"
CRASH = "crash"
FAULT_KINDS = (LATENCY, LOST_ACK, RESET, STALL, CRASH)

DEFAULT_STALL_HOLD_S = 30.0
MAX_STALL_HOLD_S = 600.0
MAX_LATENCY_S = 60.0

_FORMS = "latency:20ms[±5ms], lost-ack:P, reset:P, stall:P[,hold=30s], crash:every=10s"
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")

@dataclass(frozen=True)
class FaultSpec:
    """One parsed fault. Only the fields that belong to ``kind`` are meaningful.

    ``probability`` is the per-request chance (lost-ack, reset, stall; 1.0 for latency),
    ``delay_s``/``jitter_s`` the latency, ``hold_s`` how long a stall holds a request and
    ``interval_s`` how often the backend is crashed.
    """

    kind: str
    probability: float = 1.0
    delay_s: float = 0.0
    jitter_s: float = 0.0
    hold_s: float = 0.0
    interval_s: float = 0.0

    def __str__(self) -> str:
        if self.kind == LATENCY:
            jitter = f"±{format_duration(self.jitter_s)}" if self.jitter_s else ""
            return f"latency:{format_duration(self.delay_s)}{jitter}"
        if self.kind == STALL:
            hold = "" if self.hold_s == DEFAULT_STALL_HOLD_S else f",hold={format_duration(self.hold_s)}"
            return f"stall:{self.probability:g}{hold}"
        if self.kind == CRASH:
            return f"crash:every={format_duration(self.interval_s)}"
        return f"{self.kind}:{self.probability:g}"

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON (for ``run.json``): the kind, the canonical string, its fields."""
        fields = {
            LATENCY: {"delay_s": self.delay_s, "jitter_s": self.jitter_s},
            STALL: {"probability": self.probability, "hold_s": self.hold_s},
            CRASH: {"interval_s": self.interval_s},
        }.get(self.kind, {"probability": self.probability})
        return {"kind": self.kind, "spec": str(self), **fields}


def parse_duration(text: str) -> float:
    """Parse ``20ms`` / ``1.5s`` into seconds; raises ValueError without a unit."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"duration {text!r} needs a number and a unit, like 20ms or 1.5s")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`: ``0.02`` → ``20ms``, ``10.0`` → ``10s``."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{seconds:g}s"
    return f"{round(seconds * 1000, 6):g}ms"


def parse_fault(spec: str) -> FaultSpec:
    """Parse one ``--fault`` string (see the module docstring for the forms).

    Raises ValueError with a one-line message naming the spec and what is wrong.
    """
    kind, sep, arg = spec.strip().lower().partition(":")
    kind = kind.strip()
    if not sep or not arg.strip():
        raise ValueError(f"bad fault spec {spec!r}: expected KIND:ARGS, one of {_FORMS}")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ValueError(f"bad fault spec {spec!r}: unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    try:
        return parser(kind, arg.strip())
    except ValueError as exc:
        raise ValueError(f"bad fault spec {spec!r}: {exc}") from None


def parse_faults(specs: Iterable[str]) -> list[FaultSpec]:
    """Parse several specs; raises ValueError if a kind appears twice."""
    faults = [parse_fault(s) for s in specs]
    check_unique(faults)
    return faults


def _parse_probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"probability {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"probability must be in (0, 1], got {text!r}")
    return value


def _parse_latency(kind: str, arg: str) -> FaultSpec:
    parts = re.split(r"±|\+-", arg)
    if len(parts) > 2:
        raise ValueError("expected latency:DELAY or latency:DELAY±JITTER")
    delay = parse_duration(parts[0])
    jitter = parse_duration(parts[1]) if len(parts) == 2 else 0.0
    if delay > MAX_LATENCY_S:
        raise ValueError(f"delay must be at most {MAX_LATENCY_S:g}s")
    if jitter > delay:
        raise ValueError("jitter must not exceed the delay")
    if delay == 0:
        raise ValueError("delay must be positive")
    return FaultSpec(kind, delay_s=delay, jitter_s=jitter)


def _parse_chance(kind: str, arg: str) -> FaultSpec:
    return FaultSpec(kind, probability=_parse_probability(arg))


def _parse_stall(kind: str, arg: str) -> FaultSpec:
    prob_text, comma, option = arg.partition(",")
    hold = DEFAULT_STALL_HOLD_S
    if comma:
        name, eq, value = option.strip().partition("=")
        if name.strip() != "hold" or not eq:
            raise ValueError(f"unknown stall option {option.strip()!r} (expected hold=DURATION)")
        hold = parse_duration(value)
    if not 0.0 < hold <= MAX_STALL_HOLD_S:
        raise ValueError(f"hold must be in (0, {MAX_STALL_HOLD_S:g}s]")
    return FaultSpec(kind, probability=_parse_probability(prob_text.strip()), hold_s=hold)


def _parse_crash(kind: str, arg: str) -> FaultSpec:
    name, eq, value = arg.partition("=")
    if name.strip() != "every" or not eq:
        raise ValueError("expected crash:every=DURATION")
    interval = parse_duration(value)
    if interval <= 0:
        raise ValueError("interval must be positive")
    return FaultSpec(kind, interval_s=interval)


_PARSERS: dict[str, Callable[[str, str], FaultSpec]] = {
    LATENCY: _parse_latency,
    LOST_ACK: _parse_chance,
    RESET: _parse_chance,
    STALL: _parse_stall,
    CRASH: _parse_crash,
}


def check_unique(faults: Iterable[FaultSpec]) -> None:
    """Raise ValueError when one fault kind is given twice."""
    seen: set[str] = set()
    for fault in faults:
        if fault.kind in seen:
            raise ValueError(f"fault kind {fault.kind!r} given more than once")
        seen.add(fault.kind)


def fault_event(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    """The history event for one ``on_fault(kind, info)`` call (append it with HistoryWriter)."""
    value = {"kind": kind, **{k: v for k, v in info.items() if k != "time"}}
    return {"type": INFO, "process": NEMESIS, "f": "fault", "value": value, "time": info["time"]}
