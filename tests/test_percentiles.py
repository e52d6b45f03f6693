"""One percentile definition (issue 13): the terminal/JSON summary and the HTML report agree on a run's p99."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.checker.percentiles import percentile, percentiles
from harness.evaluate import evaluate
from harness.history.events import ops_by_workload, pair_ops, read_events
from harness.report.stats import latency_ms

RUN = Path(__file__).parent / "data" / "local_role_update_valid"


def test_summary_and_report_show_the_same_percentiles(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    summary = evaluate(tmp_path / "run")
    ops = ops_by_workload(pair_ops(read_events(RUN / "history.jsonl")))
    for w in summary["workloads"]:
        shown = percentiles(latency_ms(ops[w["name"]]))
        assert w["latency_ms"]["p50"] == round(shown["p50"], 3)
        assert w["latency_ms"]["p99"] == round(shown["p99"], 3)
        assert w["latency_ms"]["max"] == round(shown["max"], 3)


def test_hdr_values_are_within_a_tenth_of_a_percent_and_empty_is_none():
    values = [float(v) for v in range(1, 1001)]
    assert percentile(values, 99) == pytest.approx(990, rel=1e-3)
    assert percentile([], 50) is None and percentiles([]) == {}
