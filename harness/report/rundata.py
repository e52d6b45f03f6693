"""Load everything the report needs from a run directory, with no backend running."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import Op, fault_events, ops_by_workload, pair_ops, read_events

RUN_JSON = "run.json"
HISTORY = "history.jsonl"
FINAL_STATE = "final_state.json"
VERDICT_JSON = "verdict.json"


@dataclass
class RunData:
    """The parsed contents of one run directory."""

    run_dir: Path
    run: dict[str, Any]
    verdict: dict[str, Any]
    final_state: dict[str, Any]
    ops: list[Op]
    faults: list[dict[str, Any]]
    t0: int
    t_end: int
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run id from run.json, else the directory name."""
        return str(self.run.get("run_id") or self.run_dir.name)

    @property
    def verdict_status(self) -> str:
        """``valid``, ``invalid`` or ``unknown`` (unknown when verdict.json is missing)."""
        status = str(self.verdict.get("verdict", "unknown")).lower()
        return status if status in ("valid", "invalid", "unknown") else "unknown"

    def workload_names(self) -> list[str]:
        """Workloads in history order, then any only named in verdict.json."""
        names = list(ops_by_workload(self.ops))
        for summary in self.verdict.get("workloads", []):
            name = summary.get("name")
            if name and name not in names:
                names.append(name)
        return names

    def workload_ops(self, name: str) -> list[Op]:
        """The ops of one workload, in history order."""
        return [op for op in self.ops if op.workload == name]

    def workload_summary(self, name: str) -> dict[str, Any]:
        """The verdict.json entry of one workload (empty dict when absent)."""
        for summary in self.verdict.get("workloads", []):
            if summary.get("name") == name:
                return summary
        return {}

    def ms(self, t_ns: int | None) -> float | None:
        """Milliseconds since the first event of the run."""
        return None if t_ns is None else (t_ns - self.t0) / 1e6


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    """A JSON object from ``path``; missing or broken files give ``{}`` and a problem note."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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


def load_run(run_dir: Path) -> RunData:
    """Read run.json, history.jsonl, final_state.json and verdict.json from ``run_dir``.

    Only the history is required (raises ``harness.history.HistoryError``); the other files
    are optional and their absence is listed in ``RunData.problems``.
    """
    run_dir = Path(run_dir)
    problems: list[str] = []
    events = read_events(run_dir / HISTORY)
    times = [ev["time"] for ev in events]
    ops = pair_ops(events)
    for op in ops:  # plots sort and name files by these: keep them strings
        op.key = op.key if isinstance(op.key, str) else ("" if op.key is None else str(op.key))
        op.workload = op.workload if isinstance(op.workload, str) else str(op.workload or "")
    return RunData(
        run_dir=run_dir,
        run=_read_json(run_dir / RUN_JSON, problems),
        verdict=_read_json(run_dir / VERDICT_JSON, problems),
        final_state=_read_json(run_dir / FINAL_STATE, problems),
        ops=ops,
        faults=list(fault_events(events)),
        t0=min(times),
        t_end=max(times),
        problems=problems,
    )
