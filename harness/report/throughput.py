"""Plot 3: completions per second by outcome and requests in flight over time, faults shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.history.events import Op
from harness.report import style
from harness.report.faults import FaultSpan, shade_faults

_NICE_BINS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_TARGET_BINS = 80


def bin_width_s(span_s: float) -> float:
    """1 s bins for runs of a minute or more, else a round width giving about 80 bins."""
    if span_s >= 60:
        return 1.0
    wanted = span_s / _TARGET_BINS
    return next((w for w in _NICE_BINS_S if w >= wanted), 1.0)


def in_flight_steps(ops: list[Op], t_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Times (ns) and in-flight counts after each change; never-completed ops last until ``t_end``."""
    deltas = [(op.invoke_time, 1) for op in ops]
    deltas += [(op.complete_time if op.complete_time is not None else t_end, -1) for op in ops]
    deltas.sort(key=lambda d: (d[0], d[1]))
    times = np.array([d[0] for d in deltas], dtype=np.int64)
    levels = np.cumsum([d[1] for d in deltas])
    return times, levels


def plot_throughput(ops: list[Op], workload: str, t0: int, t_end: int, faults: list[FaultSpan], path: Path) -> Path:
    """Top: completed ops/s per outcome (stacked); bottom: requests in flight. x = s since run start."""
    start = min(op.invoke_time for op in ops)
    end = max([op.complete_time or op.invoke_time for op in ops])
    span_s = max((end - start) / 1e9, 1e-3)
    width = bin_width_s(span_s)
    fig = style.new_figure()
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    _draw_rates(top, ops, t0, start, end, width)
    times, levels = in_flight_steps(ops, end)
    xs = (times - t0) / 1e9
    bottom.step(
        np.concatenate([[xs[0]], xs]), np.concatenate([[0], levels]), where="post", color="#333333", linewidth=1.2
    )
    bottom.fill_between(
        np.concatenate([[xs[0]], xs]), np.concatenate([[0], levels]), step="post", color="#333333", alpha=0.15
    )
    bottom.set_ylabel("requests in flight")
    bottom.set_xlabel("time since run start (s)")
    bottom.set_ylim(0, max(1, int(levels.max())) * 1.15)
    pad = span_s * 0.02
    bottom.set_xlim((start - t0) / 1e9 - pad, (end - t0) / 1e9 + pad)
    lo, hi = bottom.get_xlim()
    fault_handles = shade_faults([top, bottom], faults, t0, lo, hi)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    handles = [h for h in top.get_legend_handles_labels()[0] if h not in fault_handles]
    top.legend(
        handles=[*handles, *fault_handles], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False
    )
    top.set_title(
        f"{workload}: throughput and concurrency over time (bins of {_fmt_width(width)})", fontsize=13, loc="left"
    )
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


def _fmt_width(width: float) -> str:
    return f"{width:g} s" if width >= 1 else f"{width * 1000:g} ms"


def _draw_rates(ax, ops: list[Op], t0: int, start: int, end: int, width: float) -> None:
    """Stacked step areas of completions per second for each outcome."""
    lo = (start - t0) / 1e9
    n_bins = max(1, int(np.ceil(((end - t0) / 1e9 - lo) / width)) + 1)
    edges = lo + np.arange(n_bins + 1) * width
    stacked = np.zeros(n_bins)
    for outcome in style.OUTCOMES:
        done = [(op.complete_time - t0) / 1e9 for op in ops if op.outcome == outcome and op.complete_time is not None]
        if not done:
            continue
        rate = np.histogram(done, bins=edges)[0] / width
        upper = stacked + rate
        ax.fill_between(
            edges,
            np.append(stacked, stacked[-1]),
            np.append(upper, upper[-1]),
            step="post",
            color=style.OUTCOME_COLORS[outcome],
            alpha=0.85,
            linewidth=0,
            label=style.OUTCOME_LABELS[outcome],
        )
        stacked = upper
    ax.set_ylabel("completed (ops/s)")
    ax.set_ylim(0, max(1.0, float(stacked.max())) * 1.15)
