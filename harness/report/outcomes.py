"""Plot 1: outcomes per key as stacked bars, with the winners per key on a second scale."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.history import Op
from harness.report import style
from harness.report.stats import max_winners_per_key, outcome_counts

MAX_KEYS = 60


def _choose_keys(by_key: dict[str, list[Op]], marked: set[str]) -> list[str]:
    """All keys in name order, or (when there are too many) violations + the most contended."""
    keys = sorted(by_key)
    if len(keys) <= MAX_KEYS:
        return keys
    busiest = sorted(keys, key=lambda k: -len(by_key[k]))
    chosen = [k for k in keys if k in marked][:MAX_KEYS]
    chosen += [k for k in busiest if k not in chosen][: MAX_KEYS - len(chosen)]
    return sorted(chosen)


def plot_outcomes_per_key(ops: list[Op], workload: str, marked: set[str], path: Path) -> Path:
    """Stacked bars of requests per key by outcome; diamonds = most winners in one race (right axis).

    A race is one key in one round; a correct run has exactly one applied write per race.

    Keys in ``marked`` (named in a violation) get a hatched red outline and a red label.
    """
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    keys = _choose_keys(by_key, marked)
    x = np.arange(len(keys))
    fig = style.new_figure()
    ax = fig.add_subplot()
    bottom = np.zeros(len(keys))
    counts = [outcome_counts(by_key[k]) for k in keys]
    for outcome in style.OUTCOMES:
        heights = np.array([c[outcome] for c in counts], dtype=float)
        ax.bar(x, heights, bottom=bottom, width=0.75, color=style.OUTCOME_COLORS[outcome])
        bottom += heights
    _mark_violations(ax, x, bottom, keys, marked)
    ax.set_xticks(
        x,
        keys,
        rotation=45 if len(keys) > 8 else 0,
        ha="right" if len(keys) > 8 else "center",
        fontsize=9 if len(keys) <= 30 else 7,
    )
    for label, key in zip(ax.get_xticklabels(), keys, strict=True):
        if key in marked:
            label.set_color(style.VIOLATION_COLOR)
            label.set_fontweight("bold")
    ax.set_ylabel("requests (count)")
    ax.set_xlabel("key")
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    most = max_winners_per_key(ops)
    _winners_axis(ax, x, [most.get(k, 0) for k in keys])
    shown = "" if len(keys) == len(by_key) else f" ({len(keys)} of {len(by_key)} keys: violations + busiest)"
    ax.set_title(f"{workload}: outcome of every request, per key{shown}", fontsize=13, loc="left")
    fig.legend(
        handles=_legend_handles(bool(marked & set(keys))), loc="outside lower center", ncol=4, fontsize=9, frameon=False
    )
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


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
    right.text(
        x[-1] + 0.35 if len(x) else 0,
        1.04,
        "exactly one winner per race",
        ha="right",
        va="bottom",
        fontsize=9,
        transform=right.transData,
    )


def _legend_handles(with_violation: bool) -> list:
    handles: list = [Patch(color=style.OUTCOME_COLORS[o], label=style.OUTCOME_LABELS[o]) for o in style.OUTCOMES]
    handles.append(Line2D([], [], marker="D", color="black", linestyle="none", label="winners per race (right axis)"))
    handles.append(Line2D([], [], color="black", linestyle="--", label="exactly one winner per race"))
    if with_violation:
        handles.append(Patch(fill=False, hatch="//", edgecolor=style.VIOLATION_COLOR, label="key named in a violation"))
    return handles
