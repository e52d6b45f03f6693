"""Write report.html: verdict badge, summaries, counterexamples and the plots (no external resources)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from harness.history import Op
from harness.report.plots import PlotRef, race_filename, violation_race
from harness.report.rundata import FINAL_STATE, HISTORY, RUN_JSON, VERDICT_JSON, RunData
from harness.report.stats import latency_ms, outcome_counts, percentiles, winners_per_race
from harness.report.throughput import in_flight_steps

BADGE_COLORS = {"valid": "#1e8e3e", "invalid": "#c5221f", "unknown": "#e8a200"}
MAX_VALUE_CHARS = 160

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#222;
 background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:24px}
header{display:flex;align-items:center;gap:24px;flex-wrap:wrap}
.badge{font-size:40px;font-weight:800;letter-spacing:2px;color:#fff;padding:14px 34px;border-radius:10px}
h1{font-size:24px;margin:0 0 6px}h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:2px 0}.links a{margin-right:14px}
table{border-collapse:collapse;margin:10px 0;background:#fff;font-size:14px}
th,td{border:1px solid #d0d0d0;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.violation{border-left:6px solid #c5221f;background:#fff;padding:8px 16px;margin:16px 0}
.violation h3{margin:6px 0;color:#c5221f}
tr.ok td{background:#e7f5e9}tr.indeterminate td{background:#fff3e0}tr.error td{background:#fdecea}
.v-valid{color:#1e8e3e;font-weight:700}.v-invalid{color:#c5221f;font-weight:700}
.v-unknown{color:#b07800;font-weight:700}
figure{margin:18px 0;background:#fff;border:1px solid #e0e0e0;padding:8px}
figure img{max-width:100%;height:auto;display:block}figcaption{color:#444;font-size:14px;margin-top:6px}
.note{background:#fff8e1;border:1px solid #f0d58a;padding:8px 14px}
.howto{background:#eef3fb;border:1px solid #c9d7ef;padding:8px 16px}
"""

PLOT_CAPTIONS = {
    "outcomes": (
        "Each bar is one key: how its requests ended (stacked). Diamonds (right axis) give the most writes "
        "applied in a single race on that key (a race is one key in one round); the dashed line marks exactly "
        "one winner. Keys named in a violation are hatched and labelled in red."
    ),
    "latency": (
        "Cumulative distribution of invoke-to-completion latency per outcome on a log axis. Markers: p50 "
        "(circle), p90 (square), p99 (triangle), max (cross); the legend gives the values (HdrHistogram, "
        "3 significant digits)."
    ),
    "throughput": (
        "Top: completed requests per second by outcome (stacked). Bottom: requests in flight (invoked, not yet "
        "completed). Injected faults, one colour per kind: shaded spans for faults that last, ticks at the top "
        "for per-request faults (lost ack, reset, ...)."
    ),
    "race": (
        "One bar per request of this race, from invoke to completion, sorted by invoke time. Winners have a "
        "black outline; the dotted line marks when a winner was acknowledged."
    ),
}

HOWTO = """
<p>A race is one key in one round: every worker is released at once to write it. Each horizontal bar is
one request of the race: it starts when the worker sent it
(<em>invoke</em>) and ends when the outcome was known (<em>completion</em>). Time runs left to right in
milliseconds since the first request of the race. Colour is the outcome: <b style="color:#2ca02c">green</b>
applied, <b style="color:#6b88a8">blue-grey</b> rejected by the condition, <b style="color:#ff8c00">orange</b>
indeterminate (timed out or lost: it may or may not have been applied), <b style="color:#d62728">red</b>
other error. A dashed bar never completed and runs to the right edge.</p>
<p>Bars that overlap in time were in flight together, so the condition had to decide between them.
A correct run shows exactly one outlined (winning) bar per race and every other write rejected; two outlined
bars in one race mean two conditional writes both succeeded. The tighter the invokes are packed, the harder
the race.</p>
"""


def e(value: Any) -> str:
    """HTML-escape any value (quotes included)."""
    return escape(str(value), quote=True)


def compact(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Short one-line JSON of ``value`` (already escaped)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return e(text if len(text) <= limit else text[: limit - 1] + "…")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    return e("–" if value is None else value)


def render_html(data: RunData, plots: list[PlotRef]) -> str:
    """The whole report page as a string."""
    status = data.verdict_status
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(status.upper())} · ddb-stress run {e(data.run_id)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(data, status),
        _problems(data),
        _summary_section(data),
        _counterexamples(data, plots),
        _plots_section(data, plots),
        f'<h2 id="howto">How to read the race timeline</h2><div class="howto">{HOWTO}</div>',
        _config_section(data),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _header(data: RunData, status: str) -> str:
    backend = data.run.get("backend") or data.verdict.get("backend") or {}
    color = BADGE_COLORS[status]
    started = data.run.get("started_at", "?")
    links = " ".join(
        f'<a href="{e(name)}">{e(name)}</a>'
        for name in (HISTORY, VERDICT_JSON, RUN_JSON, FINAL_STATE)
        if (data.run_dir / name).is_file()
    )
    return (
        f'<header><div class="badge" style="background:{color}">{e(status.upper())}</div><div>'
        f'<h1>ddb-stress run <span class="mono">{e(data.run_id)}</span></h1>'
        f'<p class="meta">started {e(started)} · {len(data.ops)} requests in {len(data.workload_names())} '
        f"workload(s)</p>"
        f'<p class="meta">backend <b>{e(backend.get("kind", "?"))}</b> at <code>{e(backend.get("endpoint", "?"))}'
        f"</code> · version {e(backend.get('version', '?'))}</p>"
        f'<p class="meta links">raw data: {links}</p>{_verdict_line(data)}</div></header>'
    )


def _verdict_line(data: RunData) -> str:
    """One sentence under the badge: how many violations, and where."""
    summaries = data.verdict.get("workloads", [])
    violations = [(s.get("name"), v) for s in summaries for v in s.get("violations", []) or []]
    unknowns = sum(len(s.get("unknowns", []) or []) for s in summaries)
    if not data.verdict:
        return '<p class="meta"><b>No verdict.json: the run was not checked.</b></p>'
    parts = [f"{len(violations)} violation(s)"]
    if violations:
        keys = ", ".join(sorted({f"{v.get('key')} ({w})" for w, v in violations}))
        parts[0] += f" on {keys}"
    if unknowns:
        parts.append(f"{unknowns} reason(s) for unknown")
    return f'<p class="meta"><b>{e(" · ".join(parts))}</b></p>'


def _problems(data: RunData) -> str:
    notes = list(data.problems) + list(data.verdict.get("notes", []))  # e.g. "the harness was the bottleneck"
    for summary in data.verdict.get("workloads", []):
        notes += [f"{summary.get('name')}: {reason}" for reason in summary.get("unknowns", []) or []]
    if not notes:
        return ""
    items = "".join(f"<li>{e(note)}</li>" for note in notes)
    return f'<div class="note"><b>Notes and reasons for unknown:</b><ul>{items}</ul></div>'


def _computed_winners(ops: list[Op]) -> dict[str, int]:
    per_race = winners_per_race(ops)
    return {"min": min(per_race.values()), "max": max(per_race.values())} if per_race else {}


def workload_row(data: RunData, name: str) -> dict[str, Any]:
    """Summary numbers of one workload: verdict.json values, else computed from the history."""
    ops = data.workload_ops(name)
    summary = data.workload_summary(name)
    counts = outcome_counts(ops)
    latency = summary.get("latency_ms") or {}
    computed = percentiles(latency_ms(ops))
    winners_range = summary.get("winners_per_key") or _computed_winners(ops)
    in_flight = int(in_flight_steps(ops, data.t_end)[1].max()) if ops else 0
    return {
        "workload": name,
        "verdict": str(summary.get("verdict", "unknown")),
        "requests": summary.get("requests", len(ops)),
        "ok": summary.get("ok", counts["ok"]),
        "conditional failed": summary.get("conditional_failed", counts["conditional_failed"]),
        "indeterminate": summary.get("indeterminate", counts["indeterminate"]),
        "errors": summary.get("errors", counts["error"]),
        "keys": summary.get("keys", len({op.key for op in ops})),
        "winners/race": f"{winners_range.get('min', '?')}–{winners_range.get('max', '?')}",
        "max in flight": summary.get("max_in_flight", in_flight),
        "p50 ms": latency.get("p50", computed.get("p50")),
        "p99 ms": latency.get("p99", computed.get("p99")),
        "violations": len(summary.get("violations", []) or []),
    }


def _summary_section(data: RunData) -> str:
    rows = [workload_row(data, name) for name in data.workload_names()]
    if not rows:
        return ""
    head = "".join(f"<th>{e(col)}</th>" for col in rows[0])
    body = ""
    for row in rows:
        verdict = row["verdict"]
        cells = f'<td><b>{e(row["workload"])}</b></td><td class="v-{e(verdict)}">{e(verdict.upper())}</td>'
        cells += "".join(f'<td class="num">{_num(v)}</td>' for k, v in row.items() if k not in ("workload", "verdict"))
        body += f"<tr>{cells}</tr>"
    return f'<h2 id="summary">Summary per workload</h2><table><tr>{head}</tr>{body}</table>'


def _op_index(data: RunData) -> dict[int, Op]:
    index: dict[int, Op] = {}
    for op in data.ops:
        index[op.index] = op
        if op.complete_index is not None:
            index.setdefault(op.complete_index, op)
    return index


def _ops_table(data: RunData, ops: list[Op], missing: list[int]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("index", "process", "f", "value", "outcome", "invoke ms", "complete ms", "latency ms", "error")
    )
    rows = ""
    for op in ops:
        latency = None if op.latency_ns is None else op.latency_ns / 1e6
        cells = [
            e(op.index),
            e(op.process),
            e(op.f),
            f'<span class="mono">{compact(op.value)}</span>',
            e(op.outcome),
            _num(data.ms(op.invoke_time)),
            _num(data.ms(op.complete_time)),
            _num(latency),
            e(op.error or ""),
        ]
        rows += f'<tr class="{e(op.outcome)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    note = f"<p>Indices not found in the history: {e(missing)}</p>" if missing else ""
    return f"<table><tr>{head}</tr>{rows}</table>{note}"


def _counterexamples(data: RunData, plots: list[PlotRef]) -> str:
    by_index = _op_index(data)
    blocks = []
    for summary in data.verdict.get("workloads", []):
        for violation in summary.get("violations", []) or []:
            blocks.append(_violation_block(data, summary.get("name", ""), violation, by_index, plots))
    if not blocks:
        return ""
    return '<h2 id="counterexamples">Counterexamples</h2>' + "".join(blocks)


def _violation_block(
    data: RunData, workload: str, violation: dict[str, Any], by_index: dict[int, Op], plots: list[PlotRef]
) -> str:
    indices = [i for i in violation.get("ops", []) or [] if isinstance(i, int)]
    ops = sorted(
        {id(by_index[i]): by_index[i] for i in indices if i in by_index}.values(), key=lambda op: op.invoke_time
    )
    missing = [i for i in indices if i not in by_index]
    key = violation.get("key")
    parts = [
        '<div class="violation">',
        f"<h3>{e(violation.get('kind', 'violation'))} · key <code>{e(key)}</code> · {e(workload)}</h3>",
        f"<p>{e(violation.get('message', ''))}</p>",
        "<p>Ops (times in ms since the run started):</p>",
        _ops_table(data, ops, missing),
    ]
    if violation.get("details"):
        parts.append(f'<p>details: <span class="mono">{compact(violation["details"], 600)}</span></p>')
    final = data.final_state.get(workload, {})
    if isinstance(final, dict) and key in final:
        parts.append(f'<p>final state of the key: <span class="mono">{compact(final[key], 600)}</span></p>')
    race = violation_race(data.workload_ops(workload), violation)
    filename = race_filename(workload, race) if race else None
    for ref in plots:
        if ref.kind == "race" and ref.filename == filename:
            parts.append(f'<figure><img src="{e(ref.filename)}" alt="{e(ref.title)}"></figure>')
    parts.append("</div>")
    return "".join(parts)


def _plots_section(data: RunData, plots: list[PlotRef]) -> str:
    parts = []
    for name in data.workload_names():
        refs = [r for r in plots if r.workload == name]
        if not refs:
            continue
        parts.append(f'<h2 id="plots-{e(name)}">Workload {e(name)}</h2>')
        for ref in refs:
            parts.append(
                f'<figure><img src="{e(ref.filename)}" alt="{e(ref.title)}">'
                f"<figcaption><b>{e(ref.title)}.</b> {e(PLOT_CAPTIONS[ref.kind])}</figcaption></figure>"
            )
    return "".join(parts)


def _kv_table(title: str, mapping: dict[str, Any]) -> str:
    if not mapping:
        return ""
    rows = "".join(f'<tr><th>{e(k)}</th><td class="mono">{compact(v, 400)}</td></tr>' for k, v in mapping.items())
    return f"<h3>{e(title)}</h3><table>{rows}</table>"


def _config_section(data: RunData) -> str:
    backend = data.run.get("backend") or data.verdict.get("backend") or {}
    return (
        '<h2 id="config">Configuration</h2>'
        + _kv_table("Run", data.run.get("config") or {})
        + _kv_table("Backend", backend)
        + _kv_table("Versions", data.run.get("versions") or {})
    )
