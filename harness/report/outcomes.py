"""Plot 1: outcomes per key as stacked bars, with the winners per race on a second scale.

In a race of 200 workers one request is applied and 199 are rejected: to scale, the winner's
slice is a hairline. Small non-zero slices are therefore drawn at least ``MIN_SLICE`` of the axis
tall, the height taken from the bar's largest slice so its total stays exact, and the exact ok
count is written above every bar.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.history.events import Op
from harness.report import style
from harness.report.stats import max_winners_per_key, outcome_counts

MAX_KEYS = 60
MAX_LABELLED_KEYS = 30  # above this, only every n-th key (and every violating one) gets a tick label
MIN_SLICE = 0.015  # of the y axis: the least height a non-zero slice is drawn with
HEADROOM = 1.13  # y axis top over the tallest bar: room for the count labels
OK_TEXT = "#1b6e1b"  # the ok colour, darkened to be readable as text
SLOTS = 6  # the x axis is at least this many bars wide, so one key is not one huge bar


def _choose_keys(by_key: dict[str, list[Op]], marked: set[str]) -> list[str]:
    """All keys in name order, or (when there are too many) violations + the most contended."""
    keys = sorted(by_key)
    if len(keys) <= MAX_KEYS:
        return keys
    busiest = sorted(keys, key=lambda k: -len(by_key[k]))
    chosen = [k for k in keys if k in marked][:MAX_KEYS]
    chosen += [k for k in busiest if k not in chosen][: MAX_KEYS - len(chosen)]
    return sorted(chosen)


def plot_outcomes_per_key(ops: list[Op], workload: str, marked: set[str], path: Path, races: bool = True) -> Path:
    """Stacked bars of requests per key by outcome, the ok count above each; diamonds = most winners in one race.

    A race is one key in one round; a correct run has exactly one applied write per race. With
    ``races`` False (the workload's ops are not races on one key) the winners are not drawn.

    Keys in ``marked`` (named in a violation) get a hatched red outline and a red label.
    """
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    keys = _choose_keys(by_key, marked)
    x = np.arange(len(keys))
    fig = style.new_figure()
    ax = fig.add_subplot()
    counts = [outcome_counts(by_key[k]) for k in keys]
    tallest = max([1, *(sum(c.values()) for c in counts)])
    tops = _draw_stacks(ax, x, counts, MIN_SLICE * tallest * HEADROOM)
    _mark_violations(ax, x, tops, keys, marked)
    _label_ok_counts(ax, x, tops, [c["ok"] for c in counts], tallest)
    ax.set_ylim(0, tallest * HEADROOM)
    thinned = _key_ticks(ax, x, keys, marked)
    ax.set_ylabel("requests (count)")
    ax.set_xlabel("key" if thinned == 1 else f"key (every {_ordinal(thinned)} labelled, and every violating one)")
    pad = max(0.0, (SLOTS - len(keys)) / 2)
    ax.set_xlim(-0.6 - pad, len(keys) - 0.4 + pad)
    ax.grid(axis="y", alpha=0.3)
    if races:
        most = max_winners_per_key(ops)
        _winners_axis(ax, x, [most.get(k, 0) for k in keys])
    shown = "" if len(keys) == len(by_key) else f" ({len(keys)} of {len(by_key)} keys: violations + busiest)"
    ax.set_title(f"{workload}: outcome of every request, per key{shown}", fontsize=13, loc="left")
    fig.legend(
        handles=_legend_handles(bool(marked & set(keys)), races),
        loc="outside lower center",
        ncol=4,
        fontsize=9,
        frameon=False,
    )
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


def slice_heights(counts: dict[str, int], least: float) -> dict[str, float]:
    """Drawn height of each outcome's slice: its count, but a non-zero one at least ``least``.

    What the small slices gain is taken from the largest, so the stack's total stays exact; a
    bar too short for that is drawn to scale.
    """
    heights = {o: float(n) for o, n in counts.items()}
    largest = max(heights, key=lambda o: heights[o])
    small = [o for o, n in heights.items() if 0 < n < least and o != largest]
    extra = sum(least - heights[o] for o in small)
    if heights[largest] - extra < least:
        return heights
    for o in small:
        heights[o] = least
    heights[largest] -= extra
    return heights


def _draw_stacks(ax, x, counts: list[dict[str, int]], least: float) -> np.ndarray:
    """The stacked bars (small slices at least ``least`` tall); returns the top of each bar."""
    drawn = [slice_heights(c, least) for c in counts]
    bottom = np.zeros(len(counts))
    for outcome in style.OUTCOMES:
        heights = np.array([d[outcome] for d in drawn], dtype=float)
        ax.bar(x, heights, bottom=bottom, width=0.75, color=style.OUTCOME_COLORS[outcome])
        bottom += heights
    return bottom


def _label_ok_counts(ax, x, tops, oks: list[int], tallest: int) -> None:
    """The exact ok count above every bar ("3 ok" for a few keys, a bare number for many)."""
    many = len(oks) > MAX_LABELLED_KEYS / 2
    for xi, top, ok in zip(x, tops, oks, strict=True):
        ax.text(
            xi,
            top + tallest * 0.012,
            str(ok) if many else f"{ok} ok",
            ha="center",
            va="bottom",
            fontsize=8 if many else 9,
            fontweight="bold",
            color=OK_TEXT if ok else "#444444",
        )


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _key_ticks(ax, x, keys: list[str], marked: set[str]) -> int:
    """Tick labels of the keys: every one, or every n-th and the violating ones when many; returns n.

    A violating key's label pushes out the regular ones closer than n to it (they would overlap).
    """
    step = max(1, math.ceil(len(keys) / MAX_LABELLED_KEYS))
    violating = [i for i, k in enumerate(keys) if k in marked]
    shown = [
        k if k in marked or (i % step == 0 and all(abs(i - j) >= step for j in violating)) else ""
        for i, k in enumerate(keys)
    ]
    ax.set_xticks(
        x,
        shown,
        rotation=45 if len(keys) > 8 else 0,
        ha="right" if len(keys) > 8 else "center",
        rotation_mode="anchor",
        fontsize=9 if len(keys) <= 20 else 8,
    )
    for label, key in zip(ax.get_xticklabels(), keys, strict=True):
        if key in marked:
            label.set_color(style.VIOLATION_COLOR)
            label.set_fontweight("bold")
    return step


def _mark_violations(ax, x, tops, keys: list[str], marked: set[str]) -> None:
    for xi, top, key in zip(x, tops, keys, strict=True):
        if key in marked:
            ax.bar(xi, top, width=0.75, fill=False, hatch="//", edgecolor=style.VIOLATION_COLOR, linewidth=1.5)


def _winners_axis(ax, x, counts: list[int]) -> None:
    """Right-hand axis: the most applied writes of any race on the key, and the 'exactly one' line."""
    right = ax.twinx()
    top = max([2, *counts]) + 0.5
    right.axhline(1, color="black", linestyle="--", linewidth=1.2)
    colors = ["black" if c == 1 else style.VIOLATION_COLOR for c in counts]
    right.scatter(x, counts, marker="D", s=46, color=colors, edgecolor="white", zorder=5)
    right.set_ylim(0, top)
    right.set_yticks(range(int(top) + 1))
    right.set_ylabel("winners per race (max over rounds)")
    right.annotate(
        "exactly one winner per race",
        (x[-1] + 0.35 if len(x) else 0, 1),
        xytext=(0, 7),  # points: clear of the diamonds sitting on the line
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=9,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def _legend_handles(with_violation: bool, races: bool) -> list:
    handles: list = [Patch(color=style.OUTCOME_COLORS[o], label=style.OUTCOME_LABELS[o]) for o in style.OUTCOMES]
    if races:
        handles.append(
            Line2D([], [], marker="D", color="black", linestyle="none", label="winners per race (right axis)")
        )
        handles.append(Line2D([], [], color="black", linestyle="--", label="exactly one winner per race"))
    if with_violation:
        handles.append(Patch(fill=False, hatch="//", edgecolor=style.VIOLATION_COLOR, label="key named in a violation"))
    # Said in the figure too: the PNG is also looked at on its own (README, tickets).
    handles.append(
        Patch(
            color="none",
            label=f"number above a bar: its exact ok count; small slices drawn ≥ {MIN_SLICE:.1%} of the axis tall",
        )
    )
    return handles
