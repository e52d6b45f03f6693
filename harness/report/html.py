"""Write report.html: verdict badge, configuration, summaries, counterexamples and the plots.

The page is one self-contained file (people attach it to tickets): every plot is embedded as a
``data:image/png`` URI, and nothing is loaded from elsewhere. The PNG files are linked as well.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from harness.checker.detection import detection, detection_words, weak_valid
from harness.checker.percentiles import percentiles
from harness.checker.summary import max_in_flight
from harness.history.events import Op
from harness.history.rundir import FINAL_STATE, HISTORY, RUN_JSON, VERDICT_JSON
from harness.report.plots import PlotRef, is_sustained, race_filename, violation_race
from harness.report.runconfig import config_items, reproduce_command
from harness.report.rundata import VERDICT_FRESH, VERDICT_SAVED, RunData
from harness.report.stats import has_races, latency_ms, outcome_counts, winners_range
from harness.report.style import slug
from harness.report.throughput import in_flight_steps

BADGE_COLORS = {"valid": "#1e8e3e", "invalid": "#c5221f", "unknown": "#e8a200"}
MAX_VALUE_CHARS = 160
SHOWN_COUNTEREXAMPLES = 3  # the rest are folded into a <details>
NOT_APPLICABLE = "–"

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#222;
 background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:24px}
header{display:flex;align-items:center;gap:24px;flex-wrap:wrap}.head{flex:1 1 600px;min-width:0}
.badge{font-size:40px;font-weight:800;letter-spacing:2px;color:#fff;padding:14px 34px;border-radius:10px}
h1{font-size:24px;margin:0 0 6px}h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:2px 0}.weak{color:#a35a00}.links a{margin-right:14px}
table{border-collapse:collapse;margin:10px 0;background:#fff;font-size:14px}
th,td{border:1px solid #d0d0d0;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.config th{background:#f6f6f6;font-weight:600;white-space:nowrap}table.config td{min-width:90px}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
pre.cmd{background:#1f2430;color:#e8e8e8;padding:10px 14px;border-radius:6px;white-space:pre-wrap;
 word-break:break-all;margin:6px 0 0}
.violation{border-left:6px solid #c5221f;background:#fff;padding:8px 16px;margin:16px 0}
.violation h3{margin:6px 0;color:#c5221f}
details.more{margin:16px 0}details.more>summary{cursor:pointer;font-weight:700;font-size:16px;padding:6px 0}
tr.ok td{background:#e7f5e9}tr.indeterminate td{background:#fff3e0}tr.error td{background:#fdecea}
.v-valid{color:#1e8e3e;font-weight:700}.v-invalid{color:#c5221f;font-weight:700}
.v-unknown{color:#b07800;font-weight:700}
figure{margin:18px 0;background:#fff;border:1px solid #e0e0e0;padding:8px}
figure img{max-width:100%;height:auto;display:block}figcaption{color:#444;font-size:14px;margin-top:6px}
.seealso{color:#444;font-size:14px}
.note{background:#fff8e1;border:1px solid #f0d58a;padding:8px 14px;margin-top:16px}
.howto{background:#eef3fb;border:1px solid #c9d7ef;padding:8px 16px}
"""

_OUTCOMES_CAPTION = (
    "Each bar is one key: how its requests ended, stacked to scale. So that one winner among hundreds of "
    "rejected requests stays visible, a small non-zero slice (ok, indeterminate, error) is drawn at least "
    "1.5% of the axis tall, taken from the largest slice so the bar's total stays exact; the number above "
    "each bar is the exact count of applied (ok) requests on that key, over all rounds."
)
PLOT_CAPTIONS = {
    "outcomes": _OUTCOMES_CAPTION
    + " Diamonds (right axis) give the most writes applied in a single race on that key (a race is one key in "
    "one round); the dashed line marks exactly one winner. Keys named in a violation are hatched and labelled "
    "in red; with many keys only every n-th key is labelled (those named in a violation always are).",
    "outcomes-no-races": _OUTCOMES_CAPTION
    + " This run has no single race per key and round (a batch load's or a transaction's requests cover many "
    "items; a sustained loop has no rounds of races; a lease lock's round also releases the lock), so there "
    "are no winners per race to draw. Keys named in a violation are hatched and labelled in red.",
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
    "loop": (
        "A slice of one key's sustained loop: one lane per worker, one bar per op from invoke to completion "
        "(reads thinner). Applied writes have a black outline; bars overlapping across lanes were in flight "
        "together. A violation's slice is centred on its ops, marked with a red triangle."
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


LOOP_HOWTO = """
<p>A sustained run has no races: on each key a few workers loop for the whole round, each op built from
what its worker last saw. A loop timeline shows a slice of one key's loop with one lane per worker: each
bar is one op from <em>invoke</em> to <em>completion</em>, coloured by outcome as in a race (reads thinner),
applied writes outlined in black. Bars that overlap across lanes were in flight together: those are the
contention windows the detection table counts. A correct loop shows at most one applied write among the
writes that overlap it and aim at the same value; a violation's slice is centred on the ops it names
(red triangles).</p>
"""


def _howto(data: RunData) -> str:
    """How to read the timelines this run drew: races (burst) or loops (``--pattern sustained``)."""
    if is_sustained(data):
        return f'<h2 id="howto">How to read the loop timeline</h2><div class="howto">{LOOP_HOWTO}</div>'
    return f'<h2 id="howto">How to read the race timeline</h2><div class="howto">{HOWTO}</div>'


def e(value: Any) -> str:
    """HTML-escape any value (quotes included)."""
    return escape(str(value), quote=True)


def compact(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Short one-line JSON of ``value`` (already escaped)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return e(text if len(text) <= limit else text[: limit - 1] + "…")


# One format per kind of number, the same everywhere on the page.
def fmt_ms(value: float | None) -> str:
    """Milliseconds (latencies and times): one decimal."""
    return NOT_APPLICABLE if value is None else f"{value:.1f}"


def fmt_rate(value: float | None) -> str:
    """Operations per second: no decimals."""
    return NOT_APPLICABLE if value is None else f"{value:.0f}"


def fmt_count(value: Any) -> str:
    """A count (or whatever the verdict holds there), as is."""
    return e(NOT_APPLICABLE if value is None else value)


class Figures:
    """The plots of the page, each embedded once as a data URI; later mentions link to that figure."""

    def __init__(self, run_dir: Path, plots: list[PlotRef]) -> None:
        self.run_dir = run_dir
        self.by_name = {ref.filename: ref for ref in plots}
        self.placed: set[str] = set()

    @staticmethod
    def anchor(ref: PlotRef) -> str:
        """The element id of a plot's figure."""
        return "fig-" + slug(ref.filename.removesuffix(".png"))

    def src(self, ref: PlotRef) -> str:
        """A ``data:image/png;base64`` URI of the PNG; its file name when it cannot be read."""
        try:
            data = (self.run_dir / ref.filename).read_bytes()
        except OSError:
            return ref.filename
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

    def figure(self, ref: PlotRef, caption: str = "") -> str:
        """The figure of ``ref`` the first time; a link back to it after that."""
        if ref.filename in self.placed:
            return self.link(ref, "shown above")
        self.placed.add(ref.filename)
        text = f"<figcaption>{caption}</figcaption>" if caption else ""
        return (
            f'<figure id="{e(self.anchor(ref))}"><img src="{self.src(ref)}" alt="{e(ref.title)}">{text}'
            f'<p class="seealso">PNG: <a href="{e(ref.filename)}">{e(ref.filename)}</a></p></figure>'
        )

    def link(self, ref: PlotRef, where: str) -> str:
        """A line pointing at the figure of ``ref`` elsewhere on the page."""
        return (
            f'<p class="seealso">{e(ref.title)}: <a href="#{e(self.anchor(ref))}">{e(where)}</a> '
            f'(<a href="{e(ref.filename)}">{e(ref.filename)}</a>)</p>'
        )


def render_html(data: RunData, plots: list[PlotRef]) -> str:
    """The whole report page as a string."""
    status = data.verdict_status
    figures = Figures(data.run_dir, plots)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(status.upper())} · ddb-stress run {e(data.run_id)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(data, status),
        _problems(data),
        _config_section(data),
        _summary_section(data),
        _detection_section(data),
        _counterexamples(data, figures),
        _plots_section(data, plots, figures),
        _howto(data),
        _raw_config_section(data),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _backend(data: RunData) -> dict[str, Any]:
    return data.run.get("backend") or data.verdict.get("backend") or {}


def _header(data: RunData, status: str) -> str:
    backend = _backend(data)
    color = BADGE_COLORS[status]
    started = data.run.get("started_at", "?")
    links = " ".join(
        f'<a href="{e(name)}">{e(name)}</a>'
        for name in (HISTORY, VERDICT_JSON, RUN_JSON, FINAL_STATE)
        if (data.run_dir / name).is_file()
    )
    return (
        f'<header><div class="badge" style="background:{color}">{e(status.upper())}</div><div class="head">'
        f'<h1>ddb-stress run <span class="mono">{e(data.run_id)}</span></h1>'
        f'<p class="meta">started {e(started)} · {len(data.ops)} requests in {len(data.workload_names())} '
        f"workload(s)</p>"
        f'<p class="meta">backend <b>{e(backend.get("kind", "?"))}</b> at <code>{e(backend.get("endpoint", "?"))}'
        f"</code> · version {e(backend.get('version', '?'))}</p>"
        f'<p class="meta links">raw data: {links}</p>{_verdict_line(data)}{_verdict_source(data)}</div></header>'
    )


def _verdict_source(data: RunData) -> str:
    """Where the verdict on this page comes from."""
    if data.verdict_source == VERDICT_FRESH:
        text = "verdict checked now from history.jsonl, by the same checkers as <code>stress check</code>"
    elif data.verdict_source == VERDICT_SAVED:
        text = f"<b>verdict read from {VERDICT_JSON}</b>: the checkers could not be re-run (see the notes)"
    else:
        return ""
    return f'<p class="meta">{text}</p>'


def _verdict_line(data: RunData) -> str:
    """One sentence under the badge: how many violations, and where."""
    summaries = data.verdict.get("workloads", [])
    violations = [(s.get("name"), v) for s in summaries for v in s.get("violations", []) or []]
    unknowns = sum(len(s.get("unknowns", []) or []) for s in summaries)
    if not data.verdict:
        return '<p class="meta"><b>No verdict: the run could not be checked.</b></p>'
    parts = [f"{len(violations)} violation(s)"]
    if violations:
        parts[0] += " on " + _violating_keys(violations)
    if unknowns:
        parts.append(f"{unknowns} reason(s) for unknown")
    return f'<p class="meta"><b>{e(" · ".join(parts))}</b></p>{_weak_line(data)}'


def _weak_line(data: RunData) -> str:
    """A VALID verdict from too few contention windows says so under the badge, as the terminal's verdict line
    does (``weak: …``)."""
    weak = [name for name in data.workload_names() if weak_valid(data.verdict_status, _detection_block(data, name))]
    if not weak:
        return ""
    return (f'<p class="meta weak"><b>weak: too few contention windows in {e(", ".join(weak))}</b> to say much '
            f'(see <a href="#detection">detection power</a>)</p>')


MAX_KEYS_NAMED = 8  # in the sentence under the badge


def _violating_keys(violations: list[tuple[str | None, dict[str, Any]]]) -> str:
    """``k1, k2 (workload); k3 (other)``: the keys named in violations, at most ``MAX_KEYS_NAMED``."""
    by_workload: dict[str, list[str]] = {}
    for workload, violation in violations:
        keys = by_workload.setdefault(str(workload), [])
        if str(violation.get("key")) not in keys:
            keys.append(str(violation.get("key")))
    parts, named = [], 0
    for workload, keys in by_workload.items():
        room = max(0, MAX_KEYS_NAMED - named)
        if room:
            parts.append(f"{', '.join(sorted(keys)[:room])} ({workload})")
        named += len(keys)
    rest = named - MAX_KEYS_NAMED
    return "; ".join(parts) + (f" and {rest} more key(s)" if rest > 0 else "")


def _problems(data: RunData) -> str:
    notes = list(data.problems) + list(data.verdict.get("notes", []))  # e.g. "the harness was the bottleneck"
    for summary in data.verdict.get("workloads", []):
        notes += [f"{summary.get('name')}: {reason}" for reason in summary.get("unknowns", []) or []]
    if not notes:
        return ""
    items = "".join(f"<li>{e(note)}</li>" for note in notes)
    return f'<div class="note"><b>Notes and reasons for unknown:</b><ul>{items}</ul></div>'


CONFIG_COLUMNS = 4  # label/value pairs per row of the configuration table


def _config_section(data: RunData) -> str:
    """The run's configuration and the command line that repeats it, at the top of the page."""
    config = data.run.get("config")
    if not isinstance(config, dict) or not config:
        return f'<h2 id="config">Configuration</h2><p>{RUN_JSON} has no configuration: it is not known.</p>'
    items = config_items(data.run, data.verdict)
    if data.run.get("recorded_by"):  # calls of the user's own code (harness.testing): no `stress run` repeats them
        items = _recorded_items(data.run, config)
    rows = ""
    for start in range(0, len(items), CONFIG_COLUMNS):
        cells = "".join(f"<th>{e(k)}</th><td>{e(v)}</td>" for k, v in items[start : start + CONFIG_COLUMNS])
        rows += f"<tr>{cells}</tr>"
    if data.run.get("recorded_by"):
        test = data.run.get("test") or "the test that made it"
        return (f'<h2 id="config">Configuration</h2><table class="config">{rows}</table>'
                f'<p class="meta">Recorded by {e(data.run["recorded_by"])}; repeat it by running {e(test)}.</p>')
    return (
        f'<h2 id="config">Configuration</h2><table class="config">{rows}</table>'
        f'<p class="meta">Reproduce with (same options and seed; the races are as close as the '
        f"server's timing allows):</p>"
        f'<pre class="cmd" id="reproduce">{e(reproduce_command(config))}</pre>'
    )


def _recorded_items(run: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, str]]:
    """What a race or hammer of the user's own function was: driver, function, workers, bounds and checks."""
    checks = ", ".join(str(c.get("pattern")) for c in config.get("checks") or []) or "none asserted"
    items = [("recorded by", str(run.get("recorded_by"))), ("driver", str(config.get("driver", "?"))),
             ("function", str(config.get("function", "?"))), ("mode", str(config.get("mode", "?"))),
             ("workers", str(config.get("workers", "?"))), ("keys", str(config.get("keys", "?"))),
             ("checks", checks)]
    if config.get("duration") is not None:
        items.append(("duration", f"{config['duration']:g} s (at most {config.get('max_calls', '?')} calls)"))
    if run.get("test"):
        items.append(("test", str(run["test"])))
    return items


def _ops_per_s(ops: list[Op]) -> float | None:
    """Requests per second over the workload's span, as the summary computes it."""
    times = [t for op in ops for t in (op.invoke_time, op.complete_time) if t is not None]
    span_s = (max(times) - min(times)) / 1e9 if times else 0.0
    return len(ops) / span_s if span_s else None


def _winners_text(data: RunData, name: str, ops: list[Op]) -> str:
    found = winners_range(name, data.workload_summary(name), ops)
    return NOT_APPLICABLE if found is None else f"{found[0]}–{found[1]}"


def workload_row(data: RunData, name: str) -> dict[str, Any]:
    """Summary numbers of one workload: the verdict's values, else computed from the history."""
    ops = data.workload_ops(name)
    summary = data.workload_summary(name)
    counts = outcome_counts(ops)
    latency = summary.get("latency_ms") or {}
    computed = percentiles(latency_ms(ops))
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
        "winners/race": _winners_text(data, name, ops),
        "max in flight": summary.get("max_in_flight", in_flight),
        "p50 ms": latency.get("p50", computed.get("p50")),
        "p99 ms": latency.get("p99", computed.get("p99")),
        "ops/s": summary["ops_per_s"] if "ops_per_s" in summary else _ops_per_s(ops),
        "violations": len(summary.get("violations", []) or []),
    }


CELL_FORMATS = {"p50 ms": fmt_ms, "p99 ms": fmt_ms, "ops/s": fmt_rate}

DETECTION_HOWTO = (
    "A <b>contention window</b> is a successful conditional write that had another conditional write on the "
    "same key in flight at the same time: the only place a race bug in the server (a check and a write that "
    "are not atomic) can show. If such a bug breaks 1 window in N, a run with W windows misses it with "
    "probability (1 − 1/N)<sup>W</sup> ≤ e<sup>−W/N</sup>, at most 5 % while N ≤ W / ln 20 ≈ W / 3: that N is "
    "<b>n₉₅</b>. A VALID verdict says nothing about bugs rarer than 1 in n₉₅ windows. A burst race gives one "
    "window (one winner); <code>--pattern sustained</code> gives one per successful write."
)


def _detection_block(data: RunData, name: str) -> dict[str, Any]:
    """Workload ``name``'s detection block: from its summary, else counted from its ops (older run dirs)."""
    block = data.workload_summary(name).get("detection")
    if block is None:
        ops = data.workload_ops(name)
        block = detection(ops, max_in_flight(ops)[0])
    return block


def _detection_section(data: RunData) -> str:
    """What each workload's run could have caught (harness.checker.detection)."""
    rows = []
    for name in data.workload_names():
        block = _detection_block(data, name)
        rows.append(f"<tr><td><b>{e(name)}</b></td><td class=\"num\">{fmt_count(block['windows'])}</td>"
                    f"<td class=\"num\">{fmt_count(block['max_in_flight'])}</td>"
                    f"<td class=\"num\">{fmt_count(block['n_95'])}</td><td>{e(detection_words(block))}</td></tr>")
    if not rows:
        return ""
    head = "<tr><th>workload</th><th>contention windows</th><th>max in flight</th><th>n₉₅</th><th>what the run " \
           "could have caught</th></tr>"
    return (f'<h2 id="detection">Detection power</h2><p class="howto">{DETECTION_HOWTO}</p>'
            f"<table>{head}{''.join(rows)}</table>")


def _summary_section(data: RunData) -> str:
    rows = [workload_row(data, name) for name in data.workload_names()]
    if not rows:
        return ""
    head = "".join(f"<th>{e(col)}</th>" for col in rows[0])
    body = ""
    for row in rows:
        verdict = row["verdict"]
        cells = f'<td><b>{e(row["workload"])}</b></td><td class="v-{e(verdict)}">{e(verdict.upper())}</td>'
        cells += "".join(
            f'<td class="num">{CELL_FORMATS.get(k, fmt_count)(v)}</td>'
            for k, v in row.items()
            if k not in ("workload", "verdict")
        )
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
            fmt_ms(data.ms(op.invoke_time)),
            fmt_ms(data.ms(op.complete_time)),
            fmt_ms(latency),
            e(op.error or ""),
        ]
        rows += f'<tr class="{e(op.outcome)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    note = f"<p>Indices not found in the history: {e(missing)}</p>" if missing else ""
    return f"<table><tr>{head}</tr>{rows}</table>{note}"


def ordered_violations(data: RunData) -> list[tuple[str, dict[str, Any]]]:
    """(workload, violation) pairs: the first of every kind (per workload) first, then the rest in order.

    The checkers list violations in the order they find them; one broken key can give hundreds of
    one kind before another kind appears, and the first few shown must not all be the same story.
    """
    found = [
        (str(summary.get("name", "")), violation)
        for summary in data.verdict.get("workloads", [])
        for violation in summary.get("violations", []) or []
    ]
    seen: set[tuple[str, str]] = set()
    first, rest = [], []
    for workload, violation in found:
        kind = (workload, str(violation.get("kind")))
        (rest if kind in seen else first).append((workload, violation))
        seen.add(kind)
    return first + rest


def _kinds_line(violations: list[tuple[str, dict[str, Any]]]) -> str:
    kinds = Counter(f"{v.get('kind', 'violation')} ({w})" for w, v in violations)
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    order = " The first of each kind comes first." if len(violations) > SHOWN_COUNTEREXAMPLES else ""
    return f"<p>{len(violations)} counterexample(s): {e(listed)}.{order}</p>"


def _counterexamples(data: RunData, figures: Figures) -> str:
    violations = ordered_violations(data)
    if not violations:
        return ""
    by_index = _op_index(data)
    shown, folded = violations[:SHOWN_COUNTEREXAMPLES], violations[SHOWN_COUNTEREXAMPLES:]
    parts = ['<h2 id="counterexamples">Counterexamples</h2>', _kinds_line(violations)]
    parts += [_violation_block(data, w, v, by_index, figures, embed=True) for w, v in shown]
    if folded:
        # Their race timelines are linked, not embedded: a closed <details> is no place for the only copy.
        blocks = "".join(_violation_block(data, w, v, by_index, figures, embed=False) for w, v in folded)
        parts.append(f'<details class="more"><summary>{len(folded)} more counterexamples</summary>{blocks}</details>')
    return "".join(parts)


def _violation_block(
    data: RunData,
    workload: str,
    violation: dict[str, Any],
    by_index: dict[int, Op],
    figures: Figures,
    embed: bool,
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
    ref = figures.by_name.get(race_filename(workload, race)) if race else None
    if ref is not None:
        parts.append(figures.figure(ref) if embed else figures.link(ref, "see its figure"))
    parts.append("</div>")
    return "".join(parts)


def _caption(data: RunData, ref: PlotRef) -> str:
    kind = ref.kind
    if kind == "outcomes" and not has_races(ref.workload, data.workload_summary(ref.workload)):
        kind = "outcomes-no-races"
    return f"<b>{e(ref.title)}.</b> {e(PLOT_CAPTIONS[kind])}"


def _plots_section(data: RunData, plots: list[PlotRef], figures: Figures) -> str:
    parts = []
    for name in data.workload_names():
        refs = [r for r in plots if r.workload == name]
        if not refs:
            continue
        parts.append(f'<h2 id="plots-{e(name)}">Workload {e(name)}</h2>')
        for ref in refs:
            if ref.filename in figures.placed:  # drawn with its counterexample
                parts.append(figures.link(ref, "shown with its counterexample above"))
            else:
                parts.append(figures.figure(ref, _caption(data, ref)))
    return "".join(parts)


def _kv_table(title: str, mapping: dict[str, Any]) -> str:
    if not mapping:
        return ""
    rows = "".join(f'<tr><th>{e(k)}</th><td class="mono">{compact(v, 400)}</td></tr>' for k, v in mapping.items())
    return f"<h3>{e(title)}</h3><table>{rows}</table>"


def _raw_config_section(data: RunData) -> str:
    return (
        f'<h2 id="raw-config">{RUN_JSON}: configuration, backend and versions</h2>'
        + _kv_table("Run", data.run.get("config") or {})
        + _kv_table("Backend", _backend(data))
        + _kv_table("Versions", data.run.get("versions") or {})
    )
