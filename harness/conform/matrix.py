"""Every probe against every backend: each backend started (or reached) in turn, its probes run one after
another on it (each bounded by its timeout), then it is stopped; the result is a :class:`Matrix`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.backends import servers as backends
from harness.backends.endpoint import BACKEND_KINDS, Endpoint, redact_url
from harness.checker.verdict import EXIT_CODES, INVALID, UNKNOWN, VALID
from harness.conform.client import ConformClient, ProbeError
from harness.conform.probe import CONFORMS, DIFFERS, INCONCLUSIVE, Cell, Probe
from harness.conform.probes import PROBES
from harness.conform.probes.documented import DOCUMENTED_ONLY
from harness.engine.run import versions
from harness.engine.runner import event_loop_factory
from harness.engine.series import BackendChoice
from harness.engine.signals import sigterm_as_interrupt
from harness.errors import UsageError
from harness.history.events import write_json
from harness.history.rundir import new_run_id

JSON_NAME = "conform.json"
HTML_NAME = "conform.html"
NAMED_KINDS = ("local", "moto", "dynalite", "aws")
# The exit code follows `stress run`: 0 all conform, 1 any differs, 3 inconclusive somewhere (none differs).
_VERDICTS = {CONFORMS: VALID, DIFFERS: INVALID, INCONCLUSIVE: UNKNOWN}

OnCell = Callable[[str, type[Probe], Cell], None]
OnBackend = Callable[[str, Endpoint], None]


def parse_backends(text: str) -> list[BackendChoice]:
    """``local,moto,dynalite,endpoint=URL,aws`` → choices, as `stress compare` reads ``--backends``, except
    that one backend is enough and ``dynalite`` is known (when this build manages it)."""
    choices: list[BackendChoice] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.startswith("endpoint="):
            url = part.partition("=")[2]
            if not url.startswith(("http://", "https://")):
                raise UsageError(f"--backends: {part!r} needs an http(s) URL after endpoint=")
            choice = BackendChoice(f"endpoint {redact_url(url)}", "endpoint", url)
        elif part in NAMED_KINDS:
            if part not in BACKEND_KINDS:
                raise UsageError(f"--backends: {part} is not available in this version of the harness")
            choice = BackendChoice(part, part)
        else:
            raise UsageError(f"--backends: unknown backend {part!r} (use {', '.join(NAMED_KINDS)}, endpoint=URL)")
        if any(c.label == choice.label for c in choices):
            raise UsageError(f"--backends: {choice.label} given twice")
        choices.append(choice)
    if not choices:
        raise UsageError("--backends needs at least one backend, e.g. local,moto")
    return choices


def check_options(choices: list[BackendChoice], *, yes: bool, region: str | None) -> None:
    """Real AWS only with --yes and a region; --region only where it applies."""
    kinds = {c.kind for c in choices}
    if "aws" in kinds:
        if not yes:
            raise UsageError("refusing to probe AWS without --yes (the probes create tables and write to them)")
        if not region:
            raise UsageError("--backends aws needs --region")
    elif region and "endpoint" not in kinds:
        raise UsageError("--region applies to none of --backends (only aws and endpoint=URL)")


def select_probes(names: list[str] | None) -> list[type[Probe]]:
    """The probes named (every probe when none is), in matrix order; UsageError for an unknown name."""
    known = {p.name: p for p in PROBES}
    for name in names or []:
        if name not in known:
            raise UsageError(f"--probe: unknown probe {name!r} (known: {', '.join(known)})")
    return [p for p in PROBES if not names or p.name in names]


@dataclass
class Column:
    """One backend's cells."""

    label: str
    backend: dict[str, Any]  # Endpoint.describe(): kind, endpoint, version, region
    cells: dict[str, Cell] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Matrix:
    """probe × backend → cell."""

    run_id: str
    started_at: str
    probes: list[type[Probe]]
    command: str = ""  # the stress conform command line that repeats this matrix
    columns: list[Column] = field(default_factory=list)

    @property
    def status(self) -> str:
        """differs beats inconclusive beats conforms."""
        statuses = {cell.status for column in self.columns for cell in column.cells.values()}
        return next((s for s in (DIFFERS, INCONCLUSIVE) if s in statuses), CONFORMS)

    @property
    def exit_code(self) -> int:
        """0 when every cell conforms, 1 when any differs, 3 when some cell is inconclusive and none differs."""
        return EXIT_CODES[_VERDICTS[self.status]]

    def to_json(self) -> dict[str, Any]:
        """conform.json (and what --json prints)."""
        return {
            "kind": "conform", "id": self.run_id, "started_at": self.started_at, "status": self.status,
            "command": self.command,
            "probes": [p.describe() for p in self.probes],
            "backends": [{"label": c.label, **c.backend, "seconds": round(c.seconds, 2)} for c in self.columns],
            "matrix": {p.name: {c.label: c.cells[p.name].to_json() for c in self.columns if p.name in c.cells}
                       for p in self.probes},
            "documented_only": [{"title": d.title, "doc": {"title": d.doc.title, "url": d.doc.url}, "why": d.why}
                                for d in DOCUMENTED_ONLY],
            "versions": versions(),
        }


def run_matrix(choices: list[BackendChoice], probes: list[type[Probe]], *, region: str | None = None,
               on_backend: OnBackend | None = None, on_cell: OnCell | None = None) -> Matrix:
    """Start each backend in turn, run every probe on it, stop it; Ctrl-C and SIGTERM stop it too."""
    matrix = Matrix(new_run_id(), datetime.now(UTC).isoformat(timespec="seconds"), list(probes),
                    command_line(choices, probes, region))
    with sigterm_as_interrupt():
        for choice in choices:
            matrix.columns.append(_run_column(matrix.run_id, choice, probes, region, on_backend, on_cell))
    return matrix


def command_line(choices: list[BackendChoice], probes: list[type[Probe]], region: str | None) -> str:
    """``stress conform --backends …`` for these backends and probes (endpoint credentials redacted)."""
    spec = ",".join(f"endpoint={redact_url(c.endpoint_url)}" if c.endpoint_url else c.kind for c in choices)
    words = ["stress", "conform", "--backends", spec]
    if region:
        words += ["--region", region]
    if len(probes) < len(PROBES):
        words += [w for p in probes for w in ("--probe", p.name)]
    if any(c.kind == "aws" for c in choices):
        words.append("--yes")
    return " ".join(words)


def _run_column(run_id: str, choice: BackendChoice, probes: list[type[Probe]], region: str | None,
                on_backend: OnBackend | None, on_cell: OnCell | None) -> Column:
    started = time.monotonic()
    kind_region = region if choice.kind in ("aws", "endpoint") else None
    with backends.open_backend(choice.kind, endpoint_url=choice.endpoint_url, region=kind_region) as endpoint:
        if endpoint.kind == "aws":
            backends.check_reachable(endpoint)
        if on_backend:
            on_backend(choice.label, endpoint)
        column = Column(choice.label, endpoint.describe())
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_run_probes(endpoint, run_id, probes, column, on_cell))
    column.seconds = time.monotonic() - started
    return column


async def _run_probes(endpoint: Endpoint, run_id: str, probes: list[type[Probe]], column: Column,
                      on_cell: OnCell | None) -> None:
    async with ConformClient(endpoint, run_id) as client:
        for probe in probes:
            column.cells[probe.name] = cell = await run_probe(probe(), client)
            if on_cell:
                on_cell(column.label, probe, cell)


async def run_probe(probe: Probe, client: ConformClient) -> Cell:
    """One probe, bounded by its timeout; a probe that cannot finish is inconclusive, saying why."""
    started = time.monotonic()
    try:
        cell = await asyncio.wait_for(probe.run(client), probe.timeout_s)
    except TimeoutError:
        cell = Cell.inconclusive(f"did not finish within {probe.timeout_s:g} s")
    except ProbeError as exc:
        cell = Cell.inconclusive(str(exc))
    except Exception as exc:  # a backend that breaks the probe's set-up (CreateTable, say) is not a verdict
        cell = Cell.inconclusive(f"the probe failed: {type(exc).__name__}: {exc}")
    cell.seconds = round(time.monotonic() - started, 3)
    return cell


def write_matrix(matrix: Matrix, reports_dir: Path) -> Path:
    """Write conform.json and conform.html into reports/conform-<id>/; returns the directory."""
    from harness.conform.html import render_html

    out = reports_dir / f"conform-{matrix.run_id}"
    out.mkdir(parents=True)
    data = matrix.to_json()
    write_json(out / JSON_NAME, data)
    compares = sorted(reports_dir.glob("compare-*/report.html"))  # the latest speed comparison beside it
    latest = f"../{compares[-1].parent.name}/report.html" if compares else None
    (out / HTML_NAME).write_text(render_html(data, latest_compare=latest), encoding="utf-8")
    return out
