"""Plot 4 under ``--pattern sustained``: a slice of one key's loop, one lane per worker (Jepsen's timeline).

A sustained round is not a race: a key's few workers loop on it for seconds, thousands of ops one after
another. Drawn as a race (one row per request) that is a diagonal of hairlines; drawn one lane per worker,
a slice of a few hundred milliseconds shows what the checker decided between: bars overlapping across
lanes were in flight together, and an outlined bar is an applied write. A violation's slice is centred
on the ops it names, so its double winner or lost update is in the picture.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import patheffects
from matplotlib.lines import Line2D

from harness.history.events import Op
from harness.report import style
from harness.report.faults import FaultSpan, shade_faults
from harness.report.stats import is_write
from harness.report.timeline import Race

SLICE_OPS = 120  # ops drawn: about 30 per lane with the default 4 workers per key, each bar still readable
LANE_WIDTH = 9.0  # points: a write's bar; a read's is thinner


def loop_slice(ops: list[Op], which: Race, around: set[int] | None = None) -> list[Op]:
    """Up to ``SLICE_OPS`` consecutive ops (by invoke time) of the loop ``which``: the first ones, or the
    ones around the first of ``around`` (op indices, e.g. a violation's)."""
    loop = sorted((op for op in ops if which.matches(op)), key=lambda op: (op.invoke_time, op.index))
    named = [i for i, op in enumerate(loop) if around and (op.index in around or op.complete_index in around)]
    if not named:
        return loop[:SLICE_OPS]
    first, last = named[0], named[-1]
    if last - first + 1 >= SLICE_OPS:  # the named ops span more than a slice: start at the first
        return loop[first:first + SLICE_OPS]
    start = max(0, min(first - (SLICE_OPS - (last - first + 1)) // 2, len(loop) - SLICE_OPS))
    return loop[start:start + SLICE_OPS]


def plot_key_loop(ops: list[Op], workload: str, which: Race, path: Path, violated: bool = False,
                  faults: list[FaultSpan] | None = None, around: set[int] | None = None) -> Path:
    """A slice of the loop ``which``: one lane per worker, one bar per op from invoke to completion.

    x is ms since the slice's first invoke; bars are coloured by outcome, reads thinner than writes,
    applied writes outlined; ops named in ``around`` (a violation's) are marked; never-completed ops run
    dashed to the right edge. Raises ValueError when the loop has no ops.
    """
    shown = loop_slice(ops, which, around)
    if not shown:
        raise ValueError(f"no ops in loop {which.label}")
    total = sum(1 for op in ops if which.matches(op))
    first = shown[0].invoke_time
    last_seen = max(op.complete_time or op.invoke_time for op in shown)
    right_edge = (last_seen - first) / 1e6 * 1.03 + 0.001
    lanes = {process: lane for lane, process in enumerate(sorted({op.process for op in shown}, key=str))}
    fig = style.new_figure(min(9.0, 2.4 + 0.55 * len(lanes)))
    ax = fig.add_subplot()
    applied = 0
    for op in shown:
        start = (op.invoke_time - first) / 1e6
        end = (op.complete_time - first) / 1e6 if op.complete_time is not None else right_edge
        lane, write = lanes[op.process], is_write(op)
        width = LANE_WIDTH if write else LANE_WIDTH * 0.4
        if write and op.outcome == "ok":
            applied += 1
            ax.hlines(lane, start, end, colors=style.WINNER_EDGE, linewidth=width + 3, zorder=3)
        ax.hlines(lane, start, end, colors=style.OUTCOME_COLORS[op.outcome], linewidth=width, zorder=4,
                  alpha=1.0 if write else 0.7, linestyles="solid" if op.complete_time is not None else (0, (4, 2)))
        if around and (op.index in around or op.complete_index in around):
            ax.plot([start], [lane - 0.42], marker="v", color=style.VIOLATION_COLOR, markersize=8, zorder=6)
    ax.set_yticks(range(len(lanes)), [f"worker {p}" for p in lanes], fontsize=9)
    ax.set_ylim(len(lanes) - 0.4, -0.8)
    ax.set_xlim(0, right_edge)
    fault_handles = shade_faults([ax], faults or [], first, 0.0, right_edge, unit_ns=1e6)
    ax.set_xlabel(f"time since the slice's first invoke on {which.key} (ms)")
    ax.grid(axis="x", alpha=0.3)
    flag = "  [VIOLATION]" if violated else ""
    ax.set_title(f"{workload}: loop on {which.label}{flag} — {len(shown)} of its {total} ops, {len(lanes)} workers, "
                 f"{applied} applied writes in {right_edge / 1.03:.1f} ms", fontsize=13, loc="left",
                 color=style.VIOLATION_COLOR if violated else "black")
    fig.legend(handles=[*_legend(shown, around), *fault_handles], loc="outside lower center", ncol=6, fontsize=9,
               frameon=False)
    fig.set_layout_engine("constrained")
    style.save(fig, str(path))
    return path


def _legend(shown: list[Op], around: set[int] | None) -> list:
    present = {op.outcome for op in shown}
    handles: list = [Line2D([], [], color=style.OUTCOME_COLORS[o], linewidth=6, label=style.OUTCOME_LABELS[o])
                     for o in style.OUTCOMES if o in present]
    if any(is_write(op) and op.outcome == "ok" for op in shown):
        outline = [patheffects.Stroke(linewidth=9, foreground=style.WINNER_EDGE), patheffects.Normal()]
        handles.append(Line2D([], [], color=style.OUTCOME_COLORS["ok"], linewidth=6, path_effects=outline,
                              label="applied write (outlined)"))
    if any(not is_write(op) for op in shown):
        handles.append(Line2D([], [], color="grey", linewidth=3, alpha=0.7, label="read (thin bar)"))
    if any(op.complete_time is None for op in shown):
        handles.append(Line2D([], [], color="grey", linestyle=(0, (4, 2)), linewidth=3, label="never completed"))
    if around:
        handles.append(Line2D([], [], color=style.VIOLATION_COLOR, marker="v", linestyle="none",
                              label="op named in the violation"))
    return handles
