"""The matrix on the terminal: probe × backend, then what every cell that does not conform says."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.conform.probe import CONFORMS, DIFFERS, INCONCLUSIVE

STYLE = {CONFORMS: "bold green", DIFFERS: "bold red", INCONCLUSIVE: "bold yellow"}


def styled(status: str) -> str:
    """A status in its colour, upper case."""
    return f"[{STYLE[status]}]{status.upper()}[/]"


def print_matrix(data: dict[str, Any], console: Console, report: str | None = None) -> None:
    """Print one conform.json object: the matrix, the explanations of the other cells, the overall status."""
    labels = [b["label"] for b in data["backends"]]
    table = Table(show_edge=False, header_style="bold")
    table.add_column("probe", no_wrap=True)
    for label in labels:
        table.add_column(label, no_wrap=True)
    for probe in data["probes"]:
        cells = data["matrix"].get(probe["name"], {})
        table.add_row(probe["name"], *(styled(cells[label]["status"]) if label in cells else "—" for label in labels))
    for backend in data["backends"]:
        console.print(f"backend {escape(backend['label'])}: {escape(str(backend.get('version')))} at "
                      f"{escape(str(backend.get('endpoint') or backend.get('region')))}", highlight=False)
    console.print(table)
    for probe in data["probes"]:
        for label, cell in data["matrix"].get(probe["name"], {}).items():
            if cell["status"] != CONFORMS:
                console.print(f"{styled(cell['status'])} {escape(probe['name'])} on {escape(label)}: "
                              f"{escape(cell['detail'])}", highlight=False)
    where = f"   report: {report}" if report else ""
    console.print(f"conform: {styled(data['status'])}{escape(where)}", highlight=False)
