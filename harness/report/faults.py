"""Turn nemesis (fault) events into time spans the plots can shade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.report import style

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


def shade_faults(axes: list[Any], faults: list[FaultSpan], t0: int, lo: float, hi: float,
                 unit_ns: float = 1e9) -> list[Any]:
    """Shade fault spans and draw point faults as a rug of ticks at the top; returns legend handles.

    x is ``(time - t0) / unit_ns`` (seconds by default, ms with ``unit_ns=1e6``); only what falls
    between ``lo`` and ``hi`` is drawn.

    Spans of one kind that touch (closer than 1/400 of the window) are merged so thousands of
    stalled requests stay a few shaded regions; point events are one collection per kind.
    """
    to_s = unit_ns
    gap = int((hi - lo) / 400 * to_s)
    visible = [
        s
        for s in merge_spans(faults, gap)
        if (s.start - t0) / to_s <= hi and ((s.end if s.end is not None else s.start) - t0) / to_s >= lo
    ]
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    points: dict[str, list[float]] = {}
    for span in visible:
        counts[span.label] = counts.get(span.label, 0) + 1
        a = (span.start - t0) / to_s
        if span.end is None:
            points.setdefault(span.label, []).append(a)
            continue
        b = max((span.end - t0) / to_s, a + (hi - lo) / 600)
        color = style.fault_color(span.label)
        for ax in axes:
            handles[span.label] = ax.axvspan(a, b, color=color, alpha=0.18, linewidth=0)
    for label, xs in points.items():
        for ax in axes:
            handles[label] = ax.vlines(
                xs, 0.9, 1.0, transform=ax.get_xaxis_transform(), colors=style.fault_color(label), linewidth=1.5
            )
    return [_relabel(handle, f"fault: {label} ({counts[label]})") for label, handle in handles.items()]


def _relabel(artist: Any, label: str) -> Any:
    artist.set_label(label)
    return artist
