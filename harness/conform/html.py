"""conform.html: the matrix (probe × backend), then each probe with what AWS documents, the page it cites
and what every backend answered. One self-contained file in the run report's style (its CSS and badge
colours); the only links leaving the page are the AWS documentation pages the probes cite."""

from __future__ import annotations

from typing import Any

from harness.conform.probe import CONFORMS, DIFFERS, INCONCLUSIVE
from harness.engine.series import parse_backends
from harness.errors import UsageError
from harness.report.html import BADGE_COLORS, CSS, compact, e

STATUS_COLORS = {CONFORMS: BADGE_COLORS["valid"], DIFFERS: BADGE_COLORS["invalid"],
                 INCONCLUSIVE: BADGE_COLORS["unknown"]}
MATRIX_DETAIL_CHARS = 220  # the matrix shows a difference's start; its probe's section has all of it
EXTRA_CSS = """
.s-conforms{color:#1e8e3e;font-weight:700}.s-differs{color:#c5221f;font-weight:700}
.s-inconclusive{color:#b07800;font-weight:700}td.cell{min-width:220px;max-width:460px}
td.cell small,th small{display:block;font-weight:400;color:#555;margin-top:3px}
.probe{background:#fff;border:1px solid #e0e0e0;padding:4px 16px 10px;margin:16px 0}
.probe.differs{border-left:6px solid #c5221f}.probe.inconclusive{border-left:6px solid #e8a200}
.probe h3{margin:10px 0 4px}details.evidence>summary{cursor:pointer;color:#444}
"""

HOWTO = """
<p>Each row is one behaviour that an AWS documentation page states (the page is linked), probed the same way
on every backend: the probe creates its own table (<code>ddbstress-conform-&lt;id&gt;-&lt;probe&gt;</code>),
sends its requests, reads back what it needs and deletes the table. A cell says
<span class="s-conforms">CONFORMS</span> when the backend answered as AWS documents,
<span class="s-differs">DIFFERS</span> with what came back instead, or
<span class="s-inconclusive">INCONCLUSIVE</span> with why the probe could not decide (a set-up call
failed, the probe timed out, the history showed no contention to judge).</p>
<p>The concurrency probes decide from what was recorded, not from what was intended. The transaction-conflict
probe fires one TransactWriteItems and 20 single-item writes on the same item together, repeatedly, and keeps
when each request left and when its answer came back: a write sent before the transaction was answered and
answered after the transaction was sent was in flight with it. Writes accepted that way, and never a
TransactionConflict, differ from AWS; if no write ever overlapped a transaction, the probe says so and
concludes nothing.</p>
"""


def render_html(data: dict[str, Any], latest_compare: str | None = None) -> str:
    """The page for one conform.json object."""
    status = data["status"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(status.upper())} · ddb-stress conformance {e(data['id'])}</title>",
        f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>",
        _header(data, latest_compare),
        _matrix(data),
        '<h2 id="probes">Probes</h2>',
        *(_probe(data, probe) for probe in data["probes"]),
        _documented_only(data),
        f'<h2 id="howto">How to read this page</h2><div class="howto">{HOWTO}</div>',
        _versions(data),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _header(data: dict[str, Any], latest_compare: str | None) -> str:
    status = data["status"]
    backends = " · ".join(f"<b>{e(b['label'])}</b> {e(b.get('version', '?'))}" for b in data["backends"])
    differences = [(p, label) for p, cells in data["matrix"].items() for label, c in cells.items()
                   if c["status"] == DIFFERS]
    line = (f"{len(differences)} difference(s): " + ", ".join(f"{p} on {label}" for p, label in differences)
            if differences else "no difference found")
    return (
        f'<header><div class="badge" style="background:{STATUS_COLORS[status]}">{e(status.upper())}</div>'
        f'<div class="head"><h1>ddb-stress conformance <span class="mono">{e(data["id"])}</span></h1>'
        f'<p class="meta">started {e(data["started_at"])} · {len(data["probes"])} probes × '
        f'{len(data["backends"])} backend(s): {backends}</p>'
        f'<p class="meta links">raw data: <a href="conform.json">conform.json</a></p>'
        f'<p class="meta"><b>{e(line)}</b></p></div></header>'
        f'<p class="meta">Repeat with:</p><pre class="cmd">{e(data.get("command", ""))}</pre>'
        f"{_compare_hint(data, latest_compare)}"
    )


def _compare_hint(data: dict[str, Any], latest_compare: str | None) -> str:
    """The `stress compare` line for the same backends (speed beside behaviour), when compare takes them, and a
    link to the latest comparison in the same reports directory."""
    spec = ",".join(f"endpoint={b['endpoint']}" if b.get("kind") == "endpoint" else str(b.get("kind"))
                    for b in data["backends"])
    try:
        parse_backends(spec)
    except UsageError:  # one backend only, or one compare does not run
        return ""
    link = f' Latest: <a href="{e(latest_compare)}">{e(latest_compare)}</a>.' if latest_compare else ""
    return (f'<p class="seealso">Speed on the same backends: <code>stress compare --backends {e(spec)}</code> '
            f"(its report is written next to this one).{link}</p>")


def _status(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "—"
    return f'<span class="s-{e(cell["status"])}">{e(cell["status"].upper())}</span>'


def _matrix(data: dict[str, Any]) -> str:
    labels = [b["label"] for b in data["backends"]]
    head = "".join(f"<th>{e(b['label'])}<small>{e(b.get('version', ''))}</small></th>" for b in data["backends"])
    rows = ""
    for probe in data["probes"]:
        cells = data["matrix"].get(probe["name"], {})
        row = f'<th><a href="#probe-{e(probe["name"])}">{e(probe["name"])}</a><small>{e(probe["title"])}</small></th>'
        for label in labels:
            cell = cells.get(label)
            detail = ""
            if cell and cell["status"] != CONFORMS:
                detail = f"<small>{compact(cell['detail'], MATRIX_DETAIL_CHARS)}</small>"
            row += f'<td class="cell">{_status(cell)}{detail}</td>'
        rows += f"<tr>{row}</tr>"
    return f'<h2 id="matrix">Matrix</h2><table><tr><th>probe</th>{head}</tr>{rows}</table>'


def _probe(data: dict[str, Any], probe: dict[str, Any]) -> str:
    cells = data["matrix"].get(probe["name"], {})
    worst = next((s for s in (DIFFERS, INCONCLUSIVE) if any(c["status"] == s for c in cells.values())), CONFORMS)
    rows = ""
    for label, cell in cells.items():
        evidence = (f'<details class="evidence"><summary>evidence</summary><span class="mono">'
                    f'{compact(cell["evidence"], 4000)}</span></details>' if cell["evidence"] else "")
        seconds = "" if cell.get("seconds") is None else f"{cell['seconds']:.2f}"
        rows += (f"<tr><th>{e(label)}</th><td>{_status(cell)}</td><td>{e(cell['detail'])}{evidence}</td>"
                 f'<td class="num">{seconds}</td></tr>')
    doc = probe["doc"]
    return (
        f'<div class="probe {e(worst)}" id="probe-{e(probe["name"])}"><h3>{e(probe["name"])} · {e(probe["title"])}</h3>'
        f"<p><b>AWS documents:</b> {e(probe['documented'])}</p>"
        f'<p class="seealso">Source: <a href="{e(doc["url"])}">{e(doc["title"])}</a></p>'
        f"<table><tr><th>backend</th><th>cell</th><th>what came back</th><th>s</th></tr>{rows}</table></div>"
    )


def _documented_only(data: dict[str, Any]) -> str:
    items = "".join(f'<li><b>{e(d["title"])}</b> (<a href="{e(d["doc"]["url"])}">{e(d["doc"]["title"])}</a>): '
                    f"not probed: {e(d['why'])}.</li>" for d in data.get("documented_only", []))
    return f'<h2 id="documented-only">Documented, not probed</h2><ul>{items}</ul>' if items else ""


def _versions(data: dict[str, Any]) -> str:
    rows = "".join(f'<tr><th>{e(k)}</th><td class="mono">{e(v)}</td></tr>' for k, v in data.get("versions", {}).items())
    backends = "".join(f'<tr><th>{e(b["label"])}</th><td class="mono">{compact(b, 400)}</td></tr>'
                       for b in data["backends"])
    return f'<h2 id="raw">Backends and versions</h2><table>{backends}</table><table>{rows}</table>'
