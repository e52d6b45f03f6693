"""The races run with the objects alive before them frozen and the young generation collected less often;
everything is restored after, also on failure and when runners nest."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from harness.clients.outcome import Outcome, Request
from harness.clients.sdk import DynamoClient
from harness.engine.quiet_gc import YOUNG_THRESHOLD, quiet_gc
from harness.engine.runner import Pace, StepRunner
from harness.history.events import HistoryWriter, pair_ops, read_events
from workloads.base import WorkloadConfig
from workloads.registration import Registration


def test_freezes_and_raises_the_young_threshold_until_the_block_ends() -> None:
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    with quiet_gc():
        assert gc.get_threshold()[0] >= YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before_threshold[1:]
        assert gc.get_freeze_count() > before_frozen
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == before_frozen


def test_cycles_made_during_the_races_are_still_collected() -> None:
    class Node:
        pass

    with quiet_gc():
        node = Node()
        node.me = node  # type: ignore[attr-defined]
        gc.collect()
        baseline = sum(isinstance(o, Node) for o in gc.get_objects())
        del node
        gc.collect()
        assert sum(isinstance(o, Node) for o in gc.get_objects()) == baseline - 1


def test_nested_blocks_restore_only_at_the_outermost_and_on_failure() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), quiet_gc():
        with quiet_gc():
            pass
        assert gc.get_threshold()[0] >= YOUNG_THRESHOLD  # the inner exit restored nothing
        raise RuntimeError("a race failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class _Answering:
    """A client stub: every request succeeds at once; records the collector's state while it runs."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def prepare(self, request: Request) -> None:
        return None

    async def warm(self) -> int:
        return 0

    async def send(self, request: Request, prepared: Any = None) -> Outcome:
        self.seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        await asyncio.sleep(0)
        return Outcome("ok")

    submit = DynamoClient.submit


async def test_the_step_runner_races_under_it(tmp_path: Path) -> None:
    config = WorkloadConfig(workers=4, keys=3, rounds=1, seed=1, run_id="quiet-gc")
    workload = Registration(config, "ddbstress-quiet-gc-registration")
    client = _Answering()
    before = gc.get_threshold()
    with HistoryWriter(tmp_path / "history.jsonl") as history:
        steps = await StepRunner(client, workload, history, 4, Pace()).run()  # type: ignore[arg-type]
    assert steps == 3 and len(client.seen) == 12
    assert all(threshold >= YOUNG_THRESHOLD and frozen > 0 for threshold, frozen in client.seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert len(pair_ops(read_events(tmp_path / "history.jsonl"))) == 12
