"""Several runs of the same workloads: `stress compare` (one per backend) and `stress sweep` (one per
worker count). Each run is an ordinary run directory; the comparison lands in its own directory next
to them with `summary.json`, plots and `report.html`."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checker.detection import weak_valid
from harness.checker.verdict import combine
from harness.engine.options import RunOptions
from harness.errors import UsageError
from harness.history.events import write_json
from harness.history.rundir import new_run_id


@dataclass
class BackendChoice:
    """One entry of --backends: a backend kind, optionally with an endpoint URL."""

    label: str
    kind: str
    endpoint_url: str | None = None


def parse_backends(text: str) -> list[BackendChoice]:
    """``local,moto,dynalite,endpoint=http://127.0.0.1:8000,aws`` → choices (UsageError on anything else)."""
    choices = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.startswith("endpoint="):
            url = part.partition("=")[2]
            if not url.startswith(("http://", "https://")):
                raise UsageError(f"--backends: {part!r} needs an http(s) URL after endpoint=")
            choices.append(BackendChoice(f"endpoint {url}", "endpoint", url))
        elif part in ("local", "moto", "dynalite", "aws"):
            choices.append(BackendChoice(part, part))
        else:
            raise UsageError(f"--backends: unknown backend {part!r} (use local, moto, dynalite, endpoint=URL, aws)")
    if len(choices) < 2:
        raise UsageError("--backends needs at least two backends to compare, e.g. local,moto")
    return choices


def parse_levels(text: str) -> list[int]:
    """``1,10,50,200`` → worker counts (UsageError unless positive integers)."""
    try:
        levels = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"--workers {text!r}: give comma-separated integers, e.g. 1,10,50,200") from None
    if not levels or min(levels) < 1:
        raise UsageError(f"--workers {text!r}: every level must be at least 1")
    return levels


@dataclass
class Entry:
    """One run of a comparison: its label, directory and verdict object."""

    label: str
    run_dir: str
    summary: dict[str, Any]
    workers: int


def run_series(variants: list[tuple[str, RunOptions]],
               run: Callable[[RunOptions], dict[str, Any]]) -> list[Entry]:
    """Run each variant in turn."""
    return [Entry(label, (summary := run(options))["run_dir"], summary, options.workers)
            for label, options in variants]


def compare_variants(base: RunOptions, backends: list[BackendChoice]) -> list[tuple[str, RunOptions]]:
    """The same run options (same seed) on every backend."""
    seed = base.seed if base.seed is not None else secrets.randbelow(2**31)
    return [(b.label, dataclasses.replace(base, backend=b.kind, endpoint_url=b.endpoint_url, seed=seed))
            for b in backends]


def sweep_variants(base: RunOptions, levels: list[int]) -> list[tuple[str, RunOptions]]:
    """The same run options at every worker count."""
    seed = base.seed if base.seed is not None else secrets.randbelow(2**31)
    return [(f"{n} workers", dataclasses.replace(base, workers=n, seed=seed)) for n in levels]


def write_series(kind: str, base: RunOptions, entries: list[Entry]) -> Path:
    """Write summary.json, plots and report.html of a compare/sweep into reports/<kind>-<id>/."""
    from harness.report.multi import render_series

    out = base.reports_dir / f"{kind}-{new_run_id()}"
    out.mkdir(parents=True)
    summary = {
        "kind": kind,
        "verdict": combine(e.summary["verdict"] for e in entries),
        "matrix": conformance_matrix(entries),
        "error_codes": error_code_differences(entries),
        "options": shared_options(base),
        "runs": [dataclasses.asdict(e) for e in entries],
    }
    write_json(out / "summary.json", summary)
    render_series(out, summary)
    return out


def shared_options(base: RunOptions) -> dict[str, Any]:
    """The run options every run of the series had that differ from ``stress run``'s defaults."""
    defaults = RunOptions()
    names = ("keys", "rounds", "duration", "rate", "retries", "timeout", "client", "unsafe", "faults", "processes")
    return {name: getattr(base, name) for name in names if getattr(base, name) != getattr(defaults, name)}


def conformance_matrix(entries: list[Entry]) -> dict[str, dict[str, dict[str, Any]]]:
    """workload → run label → {verdict, violations, kinds, keys, windows, weak} (``weak``: a VALID verdict from too
    few contention windows to mean much, as `stress run` says)."""
    matrix: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        for w in entry.summary["workloads"]:
            kinds = sorted({v["kind"] for v in w["violations"]})
            detection = w.get("detection") or {}
            matrix.setdefault(w["name"], {})[entry.label] = {
                "verdict": w["verdict"], "violations": len(w["violations"]), "kinds": kinds,
                "keys": sorted({v["key"] for v in w["violations"]})[:10],
                "windows": detection.get("windows"), "weak": weak_valid(w["verdict"], detection),
            }
    return matrix


def error_code_differences(entries: list[Entry]) -> dict[str, dict[str, dict[str, int]]]:
    """workload → run label → error codes returned, kept only where the runs disagree."""
    codes: dict[str, dict[str, dict[str, int]]] = {}
    for entry in entries:
        for w in entry.summary["workloads"]:
            codes.setdefault(w["name"], {})[entry.label] = w.get("error_codes", {})
    return {name: per_run for name, per_run in codes.items()
            if len({tuple(sorted(c)) for c in per_run.values()}) > 1}
