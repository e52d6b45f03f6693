"""Clock uncertainty between shards (issue 14): offsets from round trips, and ops widened by their shard's ε
before the checkers decide real-time order — through `stress check` on a run directory, as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.history.clocks import ClockEstimate, estimate_offset, over_run, widen_ops
from harness.history.events import HistoryWriter, pair_ops, read_events, write_json
from tests.conftest import run_stress, stdout_json

MS = 1_000_000


def test_offset_comes_from_the_shortest_round_trip():
    # The shard's clock is 5 ms ahead; round trips of 3, 1 and 2 ms: only the 1 ms one is used.
    samples = [(0, 5 * MS + 2 * MS, 3 * MS), (10 * MS, 15 * MS + MS // 2, 11 * MS), (20 * MS, 25 * MS, 22 * MS)]
    found = estimate_offset(samples)
    assert found == ClockEstimate(offset_ns=5 * MS, eps_ns=MS // 2, rtt_ns=MS, rounds=3)


def test_over_the_run_the_bound_covers_the_drift():
    start, end = ClockEstimate(0, MS, 2 * MS, 30), ClockEstimate(4 * MS, MS, 2 * MS, 30)
    run = over_run(start, end)
    assert (run.offset_ns - run.eps_ns, run.offset_ns + run.eps_ns) == (-MS, 5 * MS)
    assert over_run(start, None) == start  # a shard lost before the end: the bound from before the run


def _role_update_run(run_dir: Path, eps_ms: float | None, double_winner: bool) -> Path:
    """A role-update history of two shards; shard 1's clock runs 5 ms behind the driver's and was never corrected
    (its recorded offset 0, ε ``eps_ms``): its op that truly came after shard 0's is stamped before it."""
    run_dir.mkdir()
    cas = [  # (shard, worker, round, expected, new, invoke ms, complete ms) as recorded
        (0, 0, 0, "member", "w0-r0", 0, 1),
        (1, 1, 1, "w0-r0", "w1-r1", 3 - 5, 4 - 5),  # truly [3, 4] ms: after w0-r0 completed
    ]
    if double_winner:
        cas.append((1, 3, 0, "member", "w3-r0", 2 - 5, 3 - 5))  # a second update from member: a lost update
    events = []
    for shard, worker, round_, expected, new, start, end in cas:
        common = {"process": worker, "workload": "role-update", "f": "cas", "key": "k", "round": round_,
                  "shard": shard}
        events.append({"type": "invoke", **common, "value": {"expected": expected, "new": new}, "time": start * MS})
        events.append({"type": "ok", **common, "value": new, "time": end * MS})
    with HistoryWriter(run_dir / "history.jsonl") as history:
        for event in sorted(events, key=lambda e: e["time"]):
            history.append(event)
    shards = [] if eps_ms is None else [
        {"shard": k, "clock": {"offset_ns": 0, "eps_ns": int(eps_ms * MS), "rtt_ns": 0, "rounds": 30}}
        for k in (0, 1)]
    write_json(run_dir / "run.json", {"format": 1, "run_id": run_dir.name, "shards": shards,
                                      "config": {"workloads": ["role-update"], "rounds": {"role-update": 2}}})
    write_json(run_dir / "final_state.json", {"role-update": {"k": {"Role": "w1-r1"}}})
    return run_dir


def _check(run_dir: Path) -> tuple[int, dict]:
    proc = run_stress("check", str(run_dir), "--json", timeout=120)
    return proc.returncode, stdout_json(proc)


def test_a_5ms_clock_shift_is_a_false_alarm_without_its_eps(tmp_path):
    """The control: the same history without ε is judged non-linearizable (the later CAS seems to come first)."""
    code, summary = _check(_role_update_run(tmp_path / "no-eps", None, double_winner=False))
    assert code == 1 and summary["verdict"] == "invalid"
    assert any("linearizability" in v["message"] for v in summary["workloads"][0]["violations"])


def test_eps_6ms_hides_the_5ms_shift(tmp_path):
    code, summary = _check(_role_update_run(tmp_path / "eps", 6, double_winner=False))
    assert code == 0 and summary["verdict"] == "valid", summary["workloads"][0]["violations"]
    assert any("shard 1 ±6.000 ms" in note for note in summary["notes"])


def test_a_real_double_winner_is_still_invalid_under_eps(tmp_path):
    code, summary = _check(_role_update_run(tmp_path / "double", 6, double_winner=True))
    assert code == 1 and summary["verdict"] == "invalid"
    assert {"lost-update"} <= {v["kind"] for v in summary["workloads"][0]["violations"]}


def test_widening_leaves_the_history_and_latencies_alone(tmp_path):
    run_dir = _role_update_run(tmp_path / "w", 6, double_winner=False)
    ops = pair_ops(read_events(run_dir / "history.jsonl"))
    widened = widen_ops(ops, {0: 6 * MS, 1: 6 * MS})
    assert [(w.invoke_time, w.complete_time) for w in widened] == [
        (op.invoke_time - 6 * MS, op.complete_time + 6 * MS) for op in ops]
    assert [op.latency_ns for op in ops] == [MS, MS]  # the originals are unchanged
    assert widen_ops(ops, {}) == ops


def test_widening_is_exactly_the_sum_of_the_two_eps(tmp_path):
    """The recorded gap is 1 ms (shard 1's op completes at -1 ms, shard 0's starts at 0): ε of 0.4 ms per shard
    (0.8 ms together) still orders them, 0.6 ms (1.2 ms together) no longer does."""
    assert _check(_role_update_run(tmp_path / "tight", 0.4, double_winner=False))[0] == 1
    assert _check(_role_update_run(tmp_path / "enough", 0.6, double_winner=False))[0] == 0


@pytest.mark.parametrize(("lost_keys", "verdict"), [(["k"], "unknown"), (["other"], "invalid")])
def test_a_lost_shard_leaves_unasserted_only_the_violations_its_missing_ops_could_explain(tmp_path, lost_keys,
                                                                                          verdict):
    """A double winner on a key the lost shard still had ops on is not asserted (unknown, naming the shard);
    on a key it had handed back everything for, it stands."""
    run_dir = _role_update_run(tmp_path / "lost", 6, double_winner=True)
    meta = json.loads((run_dir / "run.json").read_text())
    meta["ray"] = {"lost": [{"shard": 1, "workload": "role-update", "error": "ActorDiedError", "keys": lost_keys}]}
    write_json(run_dir / "run.json", meta)
    code, summary = _check(run_dir)
    assert summary["verdict"] == verdict and code == {"unknown": 3, "invalid": 1}[verdict]
    assert any("shard 1 was lost" in reason for reason in summary["workloads"][0]["unknowns"])
