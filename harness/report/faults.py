"""Turn nemesis (fault) events into time spans the plots can shade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_START_WORDS = {"start", "begin", "on", "enable", "inject"}
_STOP_WORDS = {"stop", "end", "off", "disable", "heal", "clear"}
_DURATION_FIELDS = {"duration_ms": 1e6, "duration_s": 1e9, "duration": 1e9, "hold_s": 1e9}


@dataclass
class FaultSpan:
    """One fault, from ``start`` to ``end`` (ns); ``end`` is None for a point event."""

    start: int
    end: int | None
    label: str


def _kind(event: dict[str, Any]) -> str:
    value = event.get("value")
    if isinstance(value, dict) and value.get("kind"):
        return str(value["kind"])
    return str(event.get("f") or "fault")


def _phase(event: dict[str, Any]) -> str | None:
    value = event.get("value") if isinstance(event.get("value"), dict) else {}
    for name in ("phase", "action", "state", "op"):
        word = str(value.get(name, "")).lower()
        if word in _START_WORDS:
            return "start"
        if word in _STOP_WORDS:
            return "stop"
    if event.get("type") == "invoke":
        return "start"
    return None


def _duration_ns(event: dict[str, Any]) -> int | None:
    value = event.get("value")
    if not isinstance(value, dict):
        return None
    for name, scale in _DURATION_FIELDS.items():
        if isinstance(value.get(name), (int, float)):
            return int(value[name] * scale)
    return None


def fault_spans(events: list[dict[str, Any]], t_end: int) -> list[FaultSpan]:
    """Spans from nemesis events.

    A start (``type: invoke`` or ``value.phase: start``) is closed by the next stop or
    completion of the same kind; a start never closed lasts until ``t_end``. An event with a
    ``duration_ms``/``duration_s``/``hold_s`` (a stalled request) lasts that long. Anything
    else (the fault proxy's per-request lost-ack/reset/latency reports) is a point event.
    """
    spans: list[FaultSpan] = []
    open_starts: dict[str, int] = {}
    for ev in sorted(events, key=lambda e: e["time"]):
        kind, phase, duration = _kind(ev), _phase(ev), _duration_ns(ev)
        if duration is not None:
            spans.append(FaultSpan(ev["time"], ev["time"] + duration, kind))
        elif phase == "start":
            open_starts.setdefault(kind, ev["time"])
        elif kind in open_starts:
            spans.append(FaultSpan(open_starts.pop(kind), ev["time"], kind))
        else:
            spans.append(FaultSpan(ev["time"], None, kind))
    spans.extend(FaultSpan(start, t_end, kind) for kind, start in open_starts.items())
    return sorted(spans, key=lambda s: s.start)


def merge_spans(spans: list[FaultSpan], gap: int = 0) -> list[FaultSpan]:
    """Merge overlapping (or closer than ``gap`` ns) spans of the same label; points are kept."""
    merged: list[FaultSpan] = []
    last: dict[str, FaultSpan] = {}
    for span in sorted(spans, key=lambda s: s.start):
        if span.end is None:
            merged.append(span)
            continue
        prev = last.get(span.label)
        if prev is not None and prev.end is not None and span.start <= prev.end + gap:
            prev.end = max(prev.end, span.end)
            continue
        copy = FaultSpan(span.start, span.end, span.label)
        merged.append(copy)
        last[span.label] = copy
    return merged
