"""Reports over several runs: the backend comparison (`stress compare`) and the worker sweep (`stress sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.checker.percentiles import percentiles
from harness.history.events import pair_ops, read_events
from harness.report.html import BADGE_COLORS, CSS, e
from harness.report.stats import latency_ms
from harness.report.style import new_figure, save, slug

SERIES_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def render_series(out: Path, summary: dict[str, Any]) -> Path:
    """Write the plots and report.html of a compare or sweep summary into ``out``."""
    runs = summary["runs"]
    plots = [_compare_latency(out, runs, name) for name in summary["matrix"]]
    plots.append(_throughput_bars(out, runs))
    if summary["kind"] == "sweep":
        plots.insert(0, _sweep_curves(out, runs))
    path = out / "report.html"
    path.write_text(_html(out, summary, plots), encoding="utf-8")
    return path


def _workload(run: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((w for w in run["summary"]["workloads"] if w["name"] == name), None)


def _compare_latency(out: Path, runs: list[dict[str, Any]], name: str) -> str:
    """Latency CDFs of one workload, one line per run, log axis."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for i, run in enumerate(runs):
        ops = [op for op in pair_ops(read_events(Path(run["run_dir"]) / "history.jsonl")) if op.workload == name]
        values = sorted(v for v in latency_ms(ops) if v > 0)
        if not values:
            continue
        ys = np.arange(1, len(values) + 1) / len(values)
        p50, p99 = (percentiles(values, (50, 99))[q] for q in ("p50", "p99"))
        ax.plot(values, ys, color=SERIES_COLORS[i % len(SERIES_COLORS)], linewidth=2,
                label=f"{run['label']}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(values)})")
    ax.set_xscale("log")
    ax.set_xlabel("latency, invoke to completion (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"{name}: latency by run")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    filename = f"latency-{slug(name)}.png"
    save(fig, str(out / filename))
    return filename


def _throughput_bars(out: Path, runs: list[dict[str, Any]]) -> str:
    """Completed ops/s per workload, grouped by run."""
    names = sorted({w["name"] for run in runs for w in run["summary"]["workloads"]})
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(names))
    for i, run in enumerate(runs):
        rates = [(_workload(run, n) or {}).get("ops_per_s") or 0 for n in names]
        bars = ax.bar(x + i * width - 0.4 + width / 2, rates, width, label=run["label"],
                      color=SERIES_COLORS[i % len(SERIES_COLORS)])
        ax.bar_label(bars, fmt="%.0f", fontsize=9)
    ax.set_xticks(x, names)
    ax.set_ylabel("completed requests per second")
    ax.set_title("throughput by workload and run (client-side, from the history)")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, str(out / "throughput.png"))
    return "throughput.png"


def _winners(w: dict[str, Any], end: str) -> float:
    """The fewest/most winners in one race of a run (``winners_per_key`` in older run dirs); NaN, which
    matplotlib leaves out, for workloads whose steps are not races on one item."""
    winners = w.get("winners_per_race", w.get("winners_per_key"))
    return float("nan") if winners is None else winners[end]


def _sweep_curves(out: Path, runs: list[dict[str, Any]]) -> str:
    """Conditional-failure rate, winners per race, latency and throughput against worker count."""
    names = sorted({w["name"] for run in runs for w in run["summary"]["workloads"]})
    fig = new_figure(height_in=9)
    axes = fig.subplots(2, 2)
    panels = [
        (axes[0][0], "conditional-failure rate", lambda w: w["conditional_failed"] / max(1, w["requests"]), "-"),
        (axes[0][1], "winners per race (max; min dashed)", lambda w: _winners(w, "max"), "-"),
        (axes[1][0], "latency p50 (solid) / p99 (dashed), ms", lambda w: w["latency_ms"]["p50"], "-"),
        (axes[1][1], "throughput, completed ops/s", lambda w: w.get("ops_per_s") or 0, "-"),
    ]
    for i, name in enumerate(names):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        points = [(run["workers"], _workload(run, name)) for run in runs if _workload(run, name)]
        xs = [p[0] for p in points]
        for ax, _, metric, style in panels:
            ax.plot(xs, [metric(w) for _, w in points], style, marker="o", color=color, label=name)
        axes[0][1].plot(xs, [_winners(w, "min") for _, w in points], "--", color=color)
        axes[1][0].plot(xs, [w["latency_ms"]["p99"] for _, w in points], "--", marker="^", color=color)
    for ax, title, _, _ in panels:
        ax.set_xscale("log")
        ax.set_xlabel("workers (log scale)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[1][0].set_yscale("log")
    axes[0][0].legend()
    fig.tight_layout()
    save(fig, str(out / "sweep.png"))
    return "sweep.png"


def _verdict_cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "<td>—</td>"
    detail = ""
    if cell["violations"]:
        detail = f"<br><small>{cell['violations']} violations: {e(', '.join(cell['kinds']))}</small>"
    elif cell.get("weak"):
        detail = f"<br><small>weak: {cell['windows']} contention windows</small>"
    return f'<td class="v-{e(cell["verdict"])}">{e(cell["verdict"].upper())}{detail}</td>'


def _html(out: Path, summary: dict[str, Any], plots: list[str]) -> str:
    runs = summary["runs"]
    labels = [run["label"] for run in runs]
    status = summary["verdict"]
    title = "Backend comparison" if summary["kind"] == "compare" else "Worker sweep"
    matrix_rows = "".join(
        f"<tr><th>{e(name)}</th>{''.join(_verdict_cell(cells.get(label)) for label in labels)}</tr>"
        for name, cells in summary["matrix"].items())
    runs_rows = "".join(_run_row(out, run) for run in runs)
    codes = "".join(f"<tr><th>{e(name)}</th>{''.join(f'<td>{e(per.get(label) or {})}</td>' for label in labels)}</tr>"
                    for name, per in summary["error_codes"].items())
    codes_html = (f"<h2>Error codes that differ</h2><table><tr><th>workload</th>"
                  f"{''.join(f'<th>{e(label)}</th>' for label in labels)}</tr>{codes}</table>" if codes else "")
    figures = "".join(f'<figure><img src="{e(p)}" alt="{e(p)}"></figure>' for p in plots)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{CSS}</style></head>
<body><main><header><div class="badge" style="background:{BADGE_COLORS[status]}">{e(status.upper())}</div>
<div><h1>{e(title)}</h1><p class="meta">{len(runs)} runs, same workloads, seed and options{e(_options(summary))}</p>
<p class="links"><a href="summary.json">summary.json</a></p></div></header>
{_conformance_link(out, labels) if summary["kind"] == "compare" else ""}
<h2>Verdicts per workload and backend</h2>
<table><tr><th>workload</th>{''.join(f'<th>{e(label)}</th>' for label in labels)}</tr>
{matrix_rows}</table>{codes_html}
<h2>Runs</h2><table><tr><th>run</th><th>backend</th><th>workers</th><th>faults injected</th><th>verdict</th>
<th>report</th></tr>{runs_rows}</table>
<h2>Plots</h2>{figures}</main></body></html>"""


def _conformance_link(out: Path, labels: list[str]) -> str:
    """Speed here, behaviour there: the newest `stress conform` page beside this report, and the command that
    makes one for these backends."""
    pages = sorted(out.parent.glob("conform-*/conform.html"))
    link = f' Latest: <a href="../{e(pages[-1].parent.name)}/conform.html">{e(pages[-1].parent.name)}</a>.' if pages \
        else ""
    return (f'<p class="howto">Where these backends behave differently from AWS\'s documented behaviour under '
            f"contention (transaction conflicts, ALL_OLD, idempotency tokens, limits, capacity): "
            f"<code>stress conform --backends {e(','.join(labels))}</code>.{link}</p>")


def _run_row(out: Path, run: dict[str, Any]) -> str:
    run_dir = Path(run["run_dir"])
    backend = run["summary"].get("backend", {})
    link = "—"
    if (run_dir / "report.html").exists():
        link = f'<a href="../{e(run_dir.name)}/report.html">{e(run_dir.name)}</a>'
    verdict = run["summary"]["verdict"]
    return (f"<tr><td>{e(run['label'])}</td><td>{e(backend.get('version') or backend.get('kind'))}</td>"
            f'<td class="num">{run["workers"]}</td><td>{e(_counts(run["summary"].get("faults")))}</td>'
            f'<td class="v-{e(verdict)}">{e(verdict.upper())}</td>'
            f"<td>{link}</td></tr>")


def _options(summary: dict[str, Any]) -> str:
    """`` (--retries 2 --fault lost-ack:0.05)`` for the options the runs shared, or nothing."""
    words: list[str] = []
    for name, value in (summary.get("options") or {}).items():
        if name == "faults":
            words += [f"--fault {spec}" for spec in value]
        elif value is True:
            words.append(f"--{name}")
        else:
            words.append(f"--{name} {value}")
    return f" ({' '.join(words)})" if words else ""


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) if counts else "—"
