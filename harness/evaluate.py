"""Re-running the checkers from a run directory alone (used by `stress run` and `stress check`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from harness.errors import UsageError
from harness.history import HistoryError, fault_events, ops_by_workload, pair_ops, read_events
from harness.summary import summarize
from harness.verdict import UNKNOWN, combine
from workloads import get_workload

RUN_FORMAT = 1


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
    meta = load_json(run_dir / "run.json", "run metadata")
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise UsageError(f"{run_dir}: run format {found!r} is not supported by this version (expects {RUN_FORMAT})")
    try:
        events = read_events(run_dir / "history.jsonl")
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    state_path = run_dir / "final_state.json"
    final_state = load_json(state_path, "final state") if state_path.exists() else {}
    return meta, events, final_state


def evaluate(run_dir: Path) -> dict[str, Any]:
    """Check every workload of a run; returns the verdict.json object."""
    meta, events, final_state = load_run(run_dir)
    grouped = ops_by_workload(pair_ops(events))
    config = meta.get("config", {})
    results = []
    for spec in config.get("workloads") or list(grouped):
        cls = get_workload(spec)  # a built-in name or the user's module:Class spec
        name = cls.name
        ops = grouped.get(name, [])
        if name in final_state:
            verdict = cls.check(ops, final_state[name], config)
        else:
            verdict = cls.check(ops, {}, config)
            verdict.undecided(f"{name}: the run ended before its final state was read")
        if not ops:
            verdict.undecided(f"{name}: no operations recorded")
        results.append(summarize(name, ops, verdict))
    backend = meta.get("backend") or {}
    injected = Counter(str(ev["value"].get("kind", "fault")) for ev in fault_events(events)
                       if isinstance(ev.get("value"), dict) and ev["value"].get("phase") != "stop")
    return {
        "verdict": combine(r["verdict"] for r in results) if results else UNKNOWN,
        "run_dir": str(run_dir),
        "backend": {k: backend.get(k) for k in ("kind", "endpoint", "version")},
        "workloads": results,
        "faults": dict(injected),
        "client": meta.get("client", {}),
        "notes": [f"{name}: {report['note']}" for name, report in meta.get("client", {}).items() if report.get("note")]
        + durability_notes(results, injected.get("crash", 0)),
    }


def durability_notes(results: list[dict[str, Any]], crashes: int) -> list[str]:
    """After crash faults, say how many acknowledged writes were checked against the final state."""
    if not crashes:
        return []
    notes = []
    for r in results:
        lost = sum(1 for v in r["violations"] if v["kind"] == "acknowledged-write-lost")
        notes.append(f"{r['name']}: {r['ok']} acknowledged writes checked against the final state after "
                     f"{crashes} crash(es): {'none lost' if not lost else f'{lost} LOST'}")
    return notes
