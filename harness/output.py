"""The terminal summary of a run's verdict."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

STYLE = {"valid": "bold green", "invalid": "bold red", "unknown": "bold yellow"}
MAX_VIOLATIONS_SHOWN = 10


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """Per-workload counts, winners, concurrency, latency and the verdict, then counterexamples."""
    backend = summary.get("backend", {})
    console.print(f"backend: {backend.get('kind')} {backend.get('version') or ''} at {backend.get('endpoint') or '-'}")
    table = Table(show_edge=False, header_style="bold")
    for column in ("workload", "requests", "ok", "cond. failed", "indeterminate", "errors", "winners/key",
                   "max in flight", "p50 ms", "p99 ms", "ops/s", "verdict"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for w in summary["workloads"]:
        winners = w["winners_per_key"]
        table.add_row(
            w["name"], str(w["requests"]), str(w["ok"]), str(w["conditional_failed"]), str(w["indeterminate"]),
            str(w["errors"]), f"{winners['min']}–{winners['max']}", str(w["max_in_flight"]),
            _ms(w["latency_ms"]["p50"]), _ms(w["latency_ms"]["p99"]), str(w.get("ops_per_s") or "-"),
            f"[{STYLE[w['verdict']]}]{w['verdict'].upper()}[/]",
        )
    console.print(table)
    for w in summary["workloads"]:
        if w.get("error_codes"):
            codes = ", ".join(f"{code} ×{n}" for code, n in w["error_codes"].items())
            console.print(f"  {w['name']}: errors/indeterminate by code: {codes}")
        for violation in w["violations"][:MAX_VIOLATIONS_SHOWN]:
            console.print(f"  [red]✗ {w['name']} {violation['kind']}[/] {violation['message']}", highlight=False,
                          soft_wrap=True)
        if len(w["violations"]) > MAX_VIOLATIONS_SHOWN:
            console.print(f"  … and {len(w['violations']) - MAX_VIOLATIONS_SHOWN} more in verdict.json")
        for reason in w.get("unknowns", [])[:MAX_VIOLATIONS_SHOWN]:
            console.print(f"  [yellow]? {w['name']}[/] {reason}", highlight=False)
    if summary.get("faults"):
        injected = ", ".join(f"{kind} ×{n}" for kind, n in summary["faults"].items())
        console.print(f"faults injected: {injected}", highlight=False)
    for w in summary["workloads"]:
        if w.get("retried") or w.get("resolved_by_all_old"):
            console.print(f"  {w['name']}: {w['retried']} ops retried by the SDK, {w['resolved_by_all_old']} resolved "
                          "to ok by their own token in ALL_OLD, the rest indeterminate", highlight=False)
    for note in summary.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    verdict = summary["verdict"]
    console.print(f"verdict: [{STYLE[verdict]}]{verdict.upper()}[/]   run dir: {summary['run_dir']}")
