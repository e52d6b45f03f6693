"""Plot 4: the race on one key, Jepsen-timeline style (one bar per request, invoke → completion)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import patheffects
from matplotlib.lines import Line2D

from harness.history.events import Op
from harness.report import style
from harness.report.faults import FaultSpan, shade_faults
from harness.report.stats import is_write, race_id, winners

DETAILED_MAX = 60  # up to this many requests: per-bar labels and thick bars
THIN_ABOVE = 400  # above this many requests: hairline bars
MAX_WINNER_LABELS = 40  # outlined and labelled winners per plot: a loop's thousands would take minutes to draw


@dataclass(frozen=True)
class Race:
    """One race: a key in one round (``round`` None: a history without rounds), or all its rounds."""

    key: str
    round: Any = None
    all_rounds: bool = False

    def matches(self, op: Op) -> bool:
        """Whether ``op`` took part in this race."""
        return op.key == self.key and (self.all_rounds or op.extra.get("round") == self.round)

    @property
    def label(self) -> str:
        """``key``, ``key (round 2)`` or ``key (all rounds)``."""
        if self.all_rounds:
            return f"{self.key} (all rounds)"
        return self.key if self.round is None else f"{self.key} (round {self.round})"


def most_contended_race(ops: list[Op]) -> Race | None:
    """The race with the most write requests (ties: the first key in name order, then the earliest)."""
    counts = Counter(race_id(op) for op in ops if is_write(op)) or Counter(race_id(op) for op in ops)
    first: dict[tuple[str, Any], int] = {}
    for op in ops:
        first.setdefault(race_id(op), op.invoke_time)
    if not counts:
        return None
    key, round_ = min(counts, key=lambda r: (-counts[r], r[0], first[r]))
    return Race(key, round_)


def _bar_width(n: int) -> float:
    if n <= DETAILED_MAX:
        return 7.0
    if n <= THIN_ABOVE:
        return max(1.5, 420 / n)
    return max(0.3, min(1.2, 500 / n))


def _figure_height(n: int) -> float:
    return min(12.0, max(5.0, 1.6 + 0.16 * n)) if n <= THIN_ABOVE else 12.0


def plot_race_timeline(ops: list[Op], workload: str, which: Race, path: Path, violated: bool = False,
                       faults: list[FaultSpan] | None = None) -> Path:
    """One horizontal bar per request of the race ``which``, from invoke to completion, by invoke time.

    x is ms since the first invoke of the race; bars are coloured by outcome; applied writes
    (winners) get a black outline and a label; never-completed ops run dashed to the right edge.
    Faults injected during the race are shaded (spans) or ticked along the top (lost acks, resets).
    Raises ValueError when no op took part in the race.
    """
    race = sorted((op for op in ops if which.matches(op)), key=lambda op: (op.invoke_time, op.index))
    if not race:
        raise ValueError(f"no ops in race {which.label}")
    n = len(race)
    first = race[0].invoke_time
    last_seen = max(op.complete_time or op.invoke_time for op in race)
    right_edge = (last_seen - first) / 1e6 * 1.04 + 0.001
    won = {op.index for op in winners(race)}
    fig = style.new_figure(_figure_height(n))
    ax = fig.add_subplot()
    width = _bar_width(n)
    _draw_bars(ax, race, first, right_edge, width)
    labelled = 0
    for row, op in enumerate(race):
        if op.index in won and labelled < MAX_WINNER_LABELS:
            _draw_winner(ax, op, row, first, right_edge, width)
            labelled += 1
    ax.set_ylim(n - 0.5 + (0.5 if n > DETAILED_MAX else 0), -0.8)
    ax.set_xlim(0, right_edge * 1.0)
    _y_axis(ax, race, won)
    fault_handles = shade_faults([ax], faults or [], first, 0.0, right_edge, unit_ns=1e6)
    ax.set_xlabel(f"time since the first invoke on {which.key} (ms)")
    ax.grid(axis="x", alpha=0.3)
    spread = (race[-1].invoke_time - first) / 1e6
    flag = "  [VIOLATION]" if violated else ""
    ax.set_title(
        f"{workload}: race on {which.label}{flag} — {n} requests, {len(won)} winner(s), "
        f"invokes spread over {spread:.1f} ms",
        fontsize=13,
        loc="left",
        color=style.VIOLATION_COLOR if violated else "black",
    )
    fig.legend(handles=[*_legend_handles(race), *fault_handles], loc="outside lower center", ncol=6, fontsize=9,
               frameon=False)
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


def _span(op: Op, first: int, right_edge: float) -> tuple[float, float]:
    start = (op.invoke_time - first) / 1e6
    end = (op.complete_time - first) / 1e6 if op.complete_time is not None else right_edge
    return start, end


def _draw_bars(ax, race: list[Op], first: int, right_edge: float, width: float) -> None:
    """All bars, batched by style (one LineCollection per outcome/read/completed group)."""
    groups: dict[tuple[str, bool, bool], list[int]] = {}
    for row, op in enumerate(race):
        groups.setdefault((op.outcome, is_write(op), op.complete_time is not None), []).append(row)
    for (outcome, write, done), rows in groups.items():
        spans = [_span(race[r], first, right_edge) for r in rows]
        ax.hlines(
            rows,
            [s for s, _ in spans],
            [e for _, e in spans],
            colors=style.OUTCOME_COLORS[outcome],
            linewidth=width if write else width * 0.45,
            alpha=1.0 if write else 0.6,
            linestyles="solid" if done else (0, (4, 2)),
            zorder=2,
        )
        if len(race) <= DETAILED_MAX:
            ax.plot(
                [s for s, _ in spans], rows, marker="|", color="black", markersize=width + 3, linestyle="none", zorder=5
            )
            if not done:
                ax.plot(
                    [e for _, e in spans],
                    rows,
                    marker=">",
                    color=style.OUTCOME_COLORS[outcome],
                    markersize=6,
                    linestyle="none",
                    zorder=5,
                    clip_on=False,
                )


def _draw_winner(ax, op: Op, row: int, first: int, right_edge: float, width: float) -> None:
    """Outline a winning request, label it, and mark when it was acknowledged."""
    start, end = _span(op, first, right_edge)
    width = max(width, 4.0)
    ax.hlines(row, start, end, colors=style.WINNER_EDGE, linewidth=width + 4, zorder=3)
    ax.hlines(row, start, end, colors=style.OUTCOME_COLORS[op.outcome], linewidth=width, zorder=4)
    if op.complete_time is not None:
        ax.axvline(end, color="black", linestyle=":", linewidth=1, zorder=1)
    text = f"winner: process {op.process}, {end - start:.1f} ms"
    if end < 0.6 * right_edge:
        where, ha, text = end, "left", f" {text}"
    elif start > 0.4 * right_edge:
        where, ha, text = start, "right", f"{text} "
    else:
        where, ha = (start + end) / 2, "center"
    ax.annotate(
        text,
        (where, row),
        va="center",
        ha=ha,
        fontsize=9,
        fontweight="bold",
        zorder=6,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )


def _row_label(op: Op) -> str:
    return f"p{op.process}" if is_write(op) else f"p{op.process} {op.f}"


def _y_axis(ax, race: list[Op], won: set[int]) -> None:
    if len(race) <= DETAILED_MAX:
        ax.set_yticks(range(len(race)), [_row_label(op) for op in race], fontsize=7 if len(race) > 30 else 9)
        for label, op in zip(ax.get_yticklabels(), race, strict=True):
            if op.index in won:
                label.set_fontweight("bold")
        ax.set_ylabel("request (worker process), in invoke order")
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(race)} requests, in invoke order (top = first)")


def _legend_handles(race: list[Op]) -> list:
    present = {op.outcome for op in race}
    handles: list = [
        Line2D([], [], color=style.OUTCOME_COLORS[o], linewidth=6, label=style.OUTCOME_LABELS[o])
        for o in style.OUTCOMES
        if o in present
    ]
    if winners(race):
        outline = [patheffects.Stroke(linewidth=9, foreground=style.WINNER_EDGE), patheffects.Normal()]
        winner = Line2D(
            [], [], color=style.OUTCOME_COLORS["ok"], linewidth=6, path_effects=outline, label="winner (black outline)"
        )
        handles += [winner, Line2D([], [], color="black", linestyle=":", label="winner acknowledged")]
    if any(not is_write(op) for op in race):
        handles.append(Line2D([], [], color="grey", linewidth=3, alpha=0.6, label="read (thin bar)"))
    if any(op.complete_time is None for op in race):
        handles.append(Line2D([], [], color="grey", linestyle=(0, (4, 2)), linewidth=3, label="never completed"))
    return handles
