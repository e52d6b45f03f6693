"""Shared look of every plot: outcome colours, figure size, file names."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

OUTCOMES = ("ok", "conditional_failed", "indeterminate", "error")
OUTCOME_COLORS = {
    "ok": "#2ca02c",
    "conditional_failed": "#6b88a8",
    "indeterminate": "#ff8c00",
    "error": "#d62728",
}
OUTCOME_LABELS = {
    "ok": "ok (applied)",
    "conditional_failed": "conditional failed",
    "indeterminate": "indeterminate (info)",
    "error": "error",
}
VIOLATION_COLOR = "#c00000"
FAULT_COLORS = {
    "latency": "#9467bd",
    "lost-ack": "#e377c2",
    "reset": "#8c564b",
    "stall": "#17becf",
    "upstream-error": "#bcbd22",
    "crash": "#444444",
}
FAULT_COLOR = "#9467bd"  # any other kind
WINNER_EDGE = "#000000"

FIG_W_IN = 12.0
FIG_H_IN = 6.0
DPI = 100


def new_figure(height_in: float = FIG_H_IN) -> Figure:
    """A figure 1200 px wide (at the report DPI) with the report style."""
    fig = plt.figure(figsize=(FIG_W_IN, height_in), dpi=DPI)
    fig.patch.set_facecolor("white")
    return fig


def save(fig: Figure, path: str) -> None:
    """Write ``fig`` as a PNG and release its memory."""
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)


def fault_color(kind: str) -> str:
    """The colour of one fault kind (the same in every plot)."""
    return FAULT_COLORS.get(kind, FAULT_COLOR)


def slug(text: str) -> str:
    """A file-name-safe version of a workload or key name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:80] or "x"
