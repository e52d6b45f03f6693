"""A run in which no op was applied and no condition rejected anything tested no guarantee: unknown, not VALID
(dynalite 4.0.0 answers every TransactWriteItems with UnknownOperationException)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.evaluate import evaluate
from harness.history.rundir import RUN_FORMAT


def write_run(run_dir: Path, error: str) -> Path:
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"format": RUN_FORMAT, "run_id": "t",
                                                  "config": {"workloads": ["registration"], "faults": []}}))
    events = []
    for worker in range(3):
        common = {"process": worker, "workload": "registration", "f": "register", "key": "user-r0-0000", "round": 0}
        events.append({**common, "type": "invoke", "time": 10 + worker,
                       "value": {"Username": "user-r0-0000", "RequestId": f"t/w{worker}"}})
        events.append({**common, "type": "fail", "time": 20 + worker, "value": None, "error": error, "attempts": 1})
    (run_dir / "history.jsonl").write_text("".join(json.dumps({"index": i, **e}) + "\n" for i, e in enumerate(events)))
    (run_dir / "final_state.json").write_text(json.dumps({"registration": {"user-r0-0000": None}}))
    return run_dir


def test_only_errors_is_unknown_naming_why(tmp_path):
    summary = evaluate(write_run(tmp_path / "run", "UnknownOperationException"))
    assert summary["verdict"] == "unknown"
    assert any("nothing was tested" in reason for reason in summary["workloads"][0]["unknowns"])


def test_conditional_failures_are_a_test(tmp_path):
    """The negative control: losers rejected by the condition did test it (here: nobody won, so invalid)."""
    summary = evaluate(write_run(tmp_path / "run", "ConditionalCheckFailedException"))
    assert not any("nothing was tested" in reason for reason in summary["workloads"][0]["unknowns"])
    assert summary["verdict"] == "invalid"
