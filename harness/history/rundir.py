"""A run directory on disk: its name, the names of its files, making one, and the one way to read it back.

``load_run`` is strict (what `stress check` and `stress export` need: a supported run.json and a
history, or one UsageError line); ``read_json_object`` is the lenient read the report uses, which
notes a missing or broken file instead of failing.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from harness.errors import UsageError
from harness.history.events import HistoryError, read_events

RUN_FORMAT = 1
RUN_JSON = "run.json"
HISTORY = "history.jsonl"
FINAL_STATE = "final_state.json"
VERDICT_JSON = "verdict.json"


def load_json(path: Path, what: str) -> Any:
    """Read a JSON file of a run directory, or raise a one-line UsageError."""
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{path}: missing ({what})") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """run.json, the history's events and the final state of a run directory."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a run directory")
    meta = load_json(run_dir / RUN_JSON, "run metadata")
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise UsageError(f"{run_dir}: run format {found!r} is not supported by this version (expects {RUN_FORMAT})")
    try:
        events = read_events(run_dir / HISTORY)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    state_path = run_dir / FINAL_STATE
    final_state = load_json(state_path, "final state") if state_path.exists() else {}
    return meta, events, final_state


def read_json_object(path: Path, problems: list[str]) -> dict[str, Any]:
    """A JSON object from ``path``; missing or broken files give ``{}`` and a note in ``problems``."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
        return {}
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} cannot be read: {exc}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name} is not a JSON object")
        return {}
    return data


def new_run_id() -> str:
    """Sortable and unique: UTC time plus 4 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def make_run_dir(reports_dir: Path, run_id: str) -> Path:
    """Create reports/<run-id>/, or explain in one line why it cannot be written."""
    run_dir = reports_dir / run_id
    try:
        run_dir.mkdir(parents=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write run directory {run_dir}: {exc.strerror or exc}") from None
    if not os.access(run_dir, os.W_OK):
        raise UsageError(f"cannot write run directory {run_dir}")
    return run_dir
