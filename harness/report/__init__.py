"""The per-run report: PNG plots and a self-contained report.html, built from a run directory alone.

from harness.report import render_report
render_report(Path("reports/<run-id>"))  # -> reports/<run-id>/report.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.faults import fault_spans
from harness.report.html import render_html
from harness.report.plots import PlotRef, draw_all, workload_plot_jobs
from harness.report.rundata import RunData, read_run_data

REPORT_HTML = "report.html"

__all__ = ["REPORT_HTML", "PlotRef", "RunData", "read_run_data", "render_report"]


def render_report(run_dir: Path, verdict: dict[str, Any] | None = None) -> Path:
    """Write the PNG plots and ``report.html`` into ``run_dir``; return the path of report.html.

    Needs only the files of the run directory (history.jsonl is required; run.json and
    final_state.json are used when present). The verdict is checked afresh from them, as
    `stress check` does (verdict.json is read only when that fails), unless ``verdict`` is the one
    the caller has just checked from them (`stress run`: checking a 16,000-op run again cost ~0.6 s).
    Raises ``harness.history.events.HistoryError`` when the history is missing or unreadable.
    """
    data = read_run_data(Path(run_dir), verdict)
    spans = fault_spans(data.faults, data.t_end)
    jobs = [job for workload in data.workload_names() for job in workload_plot_jobs(data, workload, spans)]
    draw_all([draw for _, draw in jobs])
    plots = [ref for ref, _ in jobs]
    path = data.run_dir / REPORT_HTML
    path.write_text(render_html(data, plots), encoding="utf-8")
    return path
