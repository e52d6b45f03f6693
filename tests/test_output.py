"""The terminal summary (defects 12 and 13 of issue 10): readable at 80 columns, one column naming, and
words that say what the numbers are."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli.output import print_summary
from harness.evaluate import evaluate

SAMPLE = Path(__file__).parent / "data" / "sample_run"


def render(summary: dict, width: int) -> str:
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=width, force_terminal=False, color_system=None))
    return out.getvalue()


@pytest.fixture
def summary(tmp_path: Path) -> dict:
    """A real verdict object (the committed sample run, checked now), plus the shapes the defects were about."""
    run_dir = tmp_path / "run"
    shutil.copytree(SAMPLE, run_dir)
    result = evaluate(run_dir)
    registration = result["workloads"][0]
    result["workloads"].append({**registration, "name": "batch-load-tx", "verdict": "valid", "winners_per_race": None,
                                "violations": [], "unknowns": [], "retried": 4, "resolved_by_all_old": 0,
                                "retried_indeterminate": 0, "error_codes": {},
                                "indeterminate_codes": {"ConditionalCheckFailedException": 7}})
    return result


@pytest.mark.parametrize("width", [80, 100, 160])
def test_every_cell_and_verdict_fits_the_terminal(summary, width):
    text = render(summary, width)
    table = [line for line in text.splitlines() if "│" in line or "┃" in line]
    assert table and all(len(line) <= width for line in table), text
    assert "…" not in "\n".join(table), text
    for w in summary["workloads"]:
        assert w["verdict"].upper() in text and str(w["requests"]) in text


def test_winners_are_per_race_and_dashed_where_a_step_is_no_race(summary):
    text = render(summary, 160)
    assert "winners/race" in text and "winners/key" not in text
    batch_row = next(line for line in text.splitlines() if line.lstrip().startswith("batch-load-tx"))
    assert " – " in batch_row


def test_retries_and_indeterminate_answers_say_what_they_are(summary):
    text = render(summary, 160)
    assert "batch-load-tx: 4 ops retried by the SDK: 0 resolved to ok by their own token in ALL_OLD, 0 left " \
        "indeterminate" in text
    assert "the rest indeterminate" not in text
    assert "batch-load-tx: indeterminate (may have been applied) by last answer: ConditionalCheckFailedException ×7" \
        in text
    assert "errors/indeterminate" not in text


def test_requested_faults_are_listed_beside_the_injected_ones(summary):
    assert "faults: requested latency:20ms; injected" in render(summary, 160)
    summary["faults"] = {}
    assert "faults: requested latency:20ms; injected none" in render(summary, 160)
