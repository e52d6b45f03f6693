"""Plot 2: latency distribution (CDF on a log axis) per outcome, percentiles from HdrHistogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, LogFormatter

from harness.checker.percentiles import percentiles
from harness.history.events import Op
from harness.report import style
from harness.report.stats import latency_ms

_MARKERS = {"p50": "o", "p90": "s", "p99": "^", "max": "X"}


class _PlainMinor(LogFormatter):
    """Over a decade or two matplotlib labels some minor ticks too, by default as "4×10⁰" and "2×10¹" beside the
    major "10" (and as "2e-01" below 1 ms): the minor ticks it picks, written as plain numbers."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _fmt_ms(value: float) -> str:
    return f"{value:.1f}"  # one decimal, as everywhere in the report


def plot_latency(ops: list[Op], workload: str, path: Path) -> Path:
    """Empirical CDF of latency (ms, log x) for each outcome, with p50/p90/p99/max marked."""
    fig = style.new_figure()
    ax = fig.add_subplot()
    no_completion = sum(1 for op in ops if op.complete_time is None)
    drawn = 0
    for outcome in style.OUTCOMES:
        values = latency_ms(op for op in ops if op.outcome == outcome)
        if values:
            _draw_cdf(ax, outcome, values)
            drawn += 1
    for level in (50, 90, 99):
        ax.axhline(level, color="grey", linestyle=":", linewidth=0.8)
        ax.text(1.0, level, f" {level}%", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(_PlainMinor(labelOnlyBase=False))
    ax.set_ylim(0, 101)
    ax.set_xlabel("latency, invoke → completion (ms, log scale)")
    ax.set_ylabel("requests completed within latency (%)")
    ax.grid(which="both", axis="x", alpha=0.25)
    title = f"{workload}: latency by outcome"
    if no_completion:
        title += f"  ({no_completion} request(s) never completed: not shown)"
    ax.set_title(title, fontsize=13, loc="left")
    if drawn:
        # Below the axes, not over the curves (the tails of several outcomes end in the lower right).
        fig.legend(
            loc="outside lower center",
            ncol=2,
            fontsize=9,
            title="outcome (n): p50 / p90 / p99 / max ms",
            title_fontsize=9,
            frameon=False,
        )
    else:
        ax.text(0.5, 0.5, "no completed requests", transform=ax.transAxes, ha="center", fontsize=14)
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


def _draw_cdf(ax, outcome: str, values: list[float]) -> None:
    """One step CDF, with a marker at each percentile; the legend label carries the numbers."""
    color = style.OUTCOME_COLORS[outcome]
    xs = np.sort(np.asarray(values))
    ys = np.arange(1, len(xs) + 1) / len(xs) * 100
    pct = percentiles(values)
    label = f"{style.OUTCOME_LABELS[outcome]} ({len(xs)}): " + " / ".join(_fmt_ms(pct[k]) for k in _MARKERS)
    ax.step(
        np.concatenate([[xs[0]], xs]), np.concatenate([[0], ys]), where="post", color=color, linewidth=2, label=label
    )
    for name, marker in _MARKERS.items():
        level = 100.0 if name == "max" else float(name[1:])
        ax.plot(pct[name], level, marker=marker, color=color, markeredgecolor="black", markersize=7, linestyle="none")
