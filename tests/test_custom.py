"""Custom code under test: a user workload loaded by `module:Class`, and `harness.testing.race`."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from examples.test_my_code import AlreadyClaimed, claim_coupon, coupon_table, race_naive_claims
from harness.testing import RaceResult, race
from tests.conftest import REPO, run_stress

COUPON = "examples.custom_workload:CouponClaim"


def _summary(proc) -> dict:
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return json.loads(proc.stdout)


# The valid run of the example workload by module path, with `stress check` after it, is
# tests/test_examples.py::test_readme_custom_workload_command_works_from_a_copy_of_the_checkout (the same
# console-script command, typed from a directory holding only examples/).


def test_example_workload_unsafe_variant_is_caught(local_endpoint, tmp_path):
    """Negative control. 20 workers, not 200: read-then-write let 2-20 of the 20 win every race, invalid in
    10 of 10 runs here and 10 of 10 on one core beside a CPU hog (200 workers only drew bigger timelines)."""
    proc = run_stress("run", "--workload", COUPON, "--workers", "20", "--keys", "3", "--rounds", "1", "--json",
                      "--timeout", "30", "--backend", "endpoint", "--endpoint-url", local_endpoint.url,
                      "--reports-dir", str(tmp_path), "--unsafe")
    code, summary = proc.returncode, _summary(proc)
    assert code == 1 and summary["verdict"] == "invalid"
    kinds = {v["kind"] for v in summary["workloads"][0]["violations"]}
    assert "multiple-winners" in kinds


async def test_race_catches_a_naive_read_then_write(local_endpoint):
    async with coupon_table(local_endpoint.url) as (ddb, table):
        result = await race_naive_claims(ddb, table)
    assert len(result.winners) > 1
    with pytest.raises(AssertionError, match="exactly one winner"):
        result.assert_exactly_one_winner()


async def test_race_passes_a_conditional_write(local_endpoint):
    async with coupon_table(local_endpoint.url) as (ddb, table):
        result = await race(claim_coupon, workers=50, args_for=lambda w: (ddb, table, "SAFE", f"c{w}"))
    winner = result.assert_exactly_one_winner()
    assert winner.value == f"c{winner.worker}"
    assert len(result.failures) == 49 and set(result.errors()) == {AlreadyClaimed.__name__}
    assert all(isinstance(a.exception, AlreadyClaimed) for a in result.failures)


async def test_race_releases_every_call_before_any_finishes():
    started: list[int] = []

    async def contender(worker: int) -> int:
        started.append(worker)
        await asyncio.sleep(0.01)
        if worker % 2:
            raise KeyError(worker)
        return worker

    result = await race(contender, workers=20, args_for=lambda w: (w,))
    assert isinstance(result, RaceResult) and sorted(started) == list(range(20))
    assert result.max_in_flight() == 20
    assert [a.value for a in result.winners] == list(range(0, 20, 2))
    assert result.errors() == {"KeyError": 10}
    with pytest.raises(AssertionError, match="got 10"):
        result.assert_exactly_one_winner()


async def test_race_without_args_and_bad_worker_count():
    async def once() -> str:
        return "ok"

    result = await race(once, workers=1)
    assert result.assert_exactly_one_winner().value == "ok"
    with pytest.raises(ValueError):
        await race(once, workers=0)


def test_example_pytest_file_passes_against_dynamodb_local(local_endpoint):
    """The documented way: `DDB_ENDPOINT=... pytest examples/test_my_code.py`."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/test_my_code.py"],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "DDB_ENDPOINT": local_endpoint.url})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
