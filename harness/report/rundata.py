"""Load everything the report needs from a run directory, with no backend running.

The verdict is computed afresh by ``harness.evaluate.evaluate`` (what `stress check` runs), so the
report can never disagree with `stress check`; verdict.json is only read when that fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history.events import Op, fault_events, ops_by_workload, pair_ops, read_events
from harness.history.rundir import FINAL_STATE, HISTORY, RUN_JSON, VERDICT_JSON, read_json_object

# Where RunData.verdict came from.
VERDICT_FRESH = "checked"  # evaluate() on the history, now
VERDICT_SAVED = "verdict.json"  # evaluate() failed; verdict.json as written when the run was checked
VERDICT_NONE = "none"  # neither


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
    verdict_source: str = VERDICT_FRESH

    @property
    def run_id(self) -> str:
        """The run id from run.json, else the directory name."""
        return str(self.run.get("run_id") or self.run_dir.name)

    @property
    def verdict_status(self) -> str:
        """``valid``, ``invalid`` or ``unknown`` (unknown when there is no verdict at all)."""
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


def check_run(run_dir: Path, problems: list[str]) -> tuple[dict[str, Any], str]:
    """The verdict of ``run_dir`` and where it came from (``VERDICT_FRESH``, ``_SAVED`` or ``_NONE``).

    Runs the checkers on the history like `stress check` does; only when that raises (no or an
    unsupported run.json, a workload that cannot be imported, a checker that crashes) is the saved
    verdict.json used, with a note in ``problems``. A saved verdict that disagrees with the fresh
    one is noted too: it is stale.
    """
    from harness.evaluate import evaluate  # imports every workload: only when a report is drawn

    saved_problems: list[str] = []
    saved = read_json_object(run_dir / VERDICT_JSON, saved_problems)
    try:
        fresh = evaluate(run_dir)
    except Exception as exc:  # any failure of the checkers must still leave a report to look at
        problems.append(f"the checkers could not be re-run on this directory ({type(exc).__name__}: {exc})")
        problems.extend(saved_problems)
        if not saved:
            return {}, VERDICT_NONE
        problems.append(f"the verdict shown is the one saved in {VERDICT_JSON}, which may be stale")
        return saved, VERDICT_SAVED
    before = str(saved.get("verdict", "")).lower()
    if before and before != str(fresh.get("verdict")).lower():
        problems.append(
            f"{VERDICT_JSON} says {before.upper()} but checking the history now gives "
            f"{str(fresh.get('verdict')).upper()}: {VERDICT_JSON} is stale (this report shows the fresh verdict)"
        )
    return fresh, VERDICT_FRESH


def read_run_data(run_dir: Path, verdict: dict[str, Any] | None = None) -> RunData:
    """Read run.json, history.jsonl and final_state.json from ``run_dir`` and check the history.

    Only the history is required (raises ``harness.history.events.HistoryError``); the other files
    are optional and their absence is listed in ``RunData.problems``. The verdict comes from
    ``check_run``, unless ``verdict`` is the one just checked from these very files (by `stress run`).
    """
    run_dir = Path(run_dir)
    problems: list[str] = []
    events = read_events(run_dir / HISTORY)
    times = [ev["time"] for ev in events]
    ops = pair_ops(events)
    for op in ops:  # plots sort and name files by these: keep them strings
        op.key = op.key if isinstance(op.key, str) else ("" if op.key is None else str(op.key))
        op.workload = op.workload if isinstance(op.workload, str) else str(op.workload or "")
    run = read_json_object(run_dir / RUN_JSON, problems)
    final_state = read_json_object(run_dir / FINAL_STATE, problems)
    verdict, source = (verdict, VERDICT_FRESH) if verdict is not None else check_run(run_dir, problems)
    return RunData(
        run_dir=run_dir,
        run=run,
        verdict=verdict,
        final_state=final_state,
        ops=ops,
        faults=list(fault_events(events)),
        t0=min(times),
        t_end=max(times),
        problems=problems,
        verdict_source=source,
    )
