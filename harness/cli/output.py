"""The terminal summary of a run's verdict."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from harness.checker.detection import detection_words, weak_valid

STYLE = {"valid": "bold green", "invalid": "bold red", "unknown": "bold yellow"}
MAX_VIOLATIONS_SHOWN = 10


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# Two groups of columns: side by side on a wide terminal, as two tables below ~110 columns (at 80 columns one
# table of twelve columns cut the verdict to "VA…").
OUTCOME_COLUMNS = ("workload", "verdict", "requests", "ok", "cond. failed", "indeterminate", "errors")
SHAPE_COLUMNS = ("winners/race", "max in flight", "p50 ms", "p99 ms", "ops/s")
NARROW_HEADERS = {"cond. failed": "cond.\nfailed", "indeterminate": "indeter-\nminate",
                  "winners/race": "winners\n/race", "max in flight": "max in\nflight"}
WIDE_ENOUGH = 110


def _winners(w: dict[str, Any]) -> str:
    winners = w.get("winners_per_race", w.get("winners_per_key"))  # winners_per_key: run dirs of older versions
    return "–" if winners is None else f"{winners['min']}–{winners['max']}"


def _ops_per_s(value: float | None) -> str:
    return "-" if not value else f"{value:.0f}"


def _row(w: dict[str, Any]) -> dict[str, str]:
    """One workload's cells, by column name."""
    return {"workload": w["name"], "verdict": f"[{STYLE[w['verdict']]}]{w['verdict'].upper()}[/]",
            "requests": str(w["requests"]), "ok": str(w["ok"]), "cond. failed": str(w["conditional_failed"]),
            "indeterminate": str(w["indeterminate"]), "errors": str(w["errors"]), "winners/race": _winners(w),
            "max in flight": str(w["max_in_flight"]), "p50 ms": _ms(w["latency_ms"]["p50"]),
            "p99 ms": _ms(w["latency_ms"]["p99"]), "ops/s": _ops_per_s(w.get("ops_per_s"))}


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """Per-workload counts, winners, concurrency, latency and the verdict, then counterexamples."""
    backend = summary.get("backend", {})
    console.print(f"backend: {backend.get('kind')} {backend.get('version') or ''} at {backend.get('endpoint') or '-'}",
                  highlight=False)
    rows = [_row(w) for w in summary["workloads"]]
    groups = [(*OUTCOME_COLUMNS, *SHAPE_COLUMNS)] if console.width >= WIDE_ENOUGH else [
        OUTCOME_COLUMNS, ("workload", *SHAPE_COLUMNS)]
    narrow = len(groups) > 1
    for columns in groups:
        table = Table(show_edge=False, header_style="bold")
        for column in columns:
            # Cells are never cut (min_width); on a narrow terminal long headers take two lines instead.
            table.add_column(NARROW_HEADERS.get(column, column) if narrow else column,
                             justify="left" if column in ("workload", "verdict") else "right",
                             min_width=max((len(row[column]) for row in rows if column != "verdict"), default=7))
        for row in rows:
            table.add_row(*(row[column] for column in columns))
        console.print(table)
    for w in summary["workloads"]:
        _print_codes(w, console)
        for violation in w["violations"][:MAX_VIOLATIONS_SHOWN]:
            console.print(f"  [red]✗ {w['name']} {violation['kind']}[/] {violation['message']}", highlight=False,
                          soft_wrap=True)
        if len(w["violations"]) > MAX_VIOLATIONS_SHOWN:
            console.print(f"  … and {len(w['violations']) - MAX_VIOLATIONS_SHOWN} more in verdict.json")
        for reason in w.get("unknowns", [])[:MAX_VIOLATIONS_SHOWN]:
            console.print(f"  [yellow]? {w['name']}[/] {reason}", highlight=False)
    _print_faults(summary, console)
    for w in summary["workloads"]:
        if w.get("detection"):
            console.print(f"  {w['name']}: {detection_words(w['detection'])}", highlight=False, soft_wrap=True)
    for w in summary["workloads"]:
        if w.get("retried"):
            console.print(f"  {w['name']}: {w['retried']} ops retried by the SDK: {w['resolved_by_all_old']} resolved "
                          f"to ok by their own token in ALL_OLD, {w.get('retried_indeterminate', 0)} left "
                          "indeterminate", highlight=False)
    for note in summary.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    verdict = summary["verdict"]
    console.print(f"verdict: [{STYLE[verdict]}]{verdict.upper()}[/]{_weak(summary)}   run dir: {summary['run_dir']}",
                  highlight=False)


def _weak(summary: dict[str, Any]) -> str:
    """A VALID verdict whose run had too few contention windows to mean much says so on the verdict line."""
    weak = [w for w in summary["workloads"] if weak_valid(summary["verdict"], w.get("detection"))]
    if not weak:
        return ""
    return f" (weak: too few contention windows in {', '.join(w['name'] for w in weak)})"


def _print_codes(w: dict[str, Any], console: Console) -> None:
    """Error codes, apart from the answers of indeterminate ops (which may have been applied)."""
    if w.get("error_codes"):
        codes = ", ".join(f"{code} ×{n}" for code, n in w["error_codes"].items())
        console.print(f"  {w['name']}: errors (not applied) by code: {codes}", highlight=False)
    if w.get("indeterminate_codes"):
        codes = ", ".join(f"{code} ×{n}" for code, n in w["indeterminate_codes"].items())
        console.print(f"  {w['name']}: indeterminate (may have been applied) by last answer: {codes}",
                      highlight=False)


def _print_faults(summary: dict[str, Any], console: Console) -> None:
    """Faults requested and injected, always side by side when any was requested."""
    injected = summary.get("faults") or {}
    requested = summary.get("faults_requested") or []
    if not requested and not injected:
        return
    shown = ", ".join(f"{kind} ×{n}" for kind, n in injected.items()) or "none"
    asked = f"requested {', '.join(requested)}; " if requested else ""
    console.print(f"faults: {asked}injected {shown}", highlight=False)
