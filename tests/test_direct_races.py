"""Races sent from callbacks (``StepRunner.direct``): no task per worker, the same history as with tasks.

Against a tiny loopback server that answers PutItem the way DynamoDB Local answers a registration race (the
first request per key ``200 {}``, every later one ConditionalCheckFailed), or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

import pytest

from harness.backends.endpoint import FAKE_CREDENTIALS, Endpoint
from harness.clients.outcome import Outcome, Request
from harness.clients.prepared import PreparedClient
from harness.clients.sdk import DynamoClient
from harness.engine.runner import Pace, StepRunner
from harness.history.events import CONDITIONAL_FAILED, INVOKE, HistoryWriter, pair_ops, read_events
from workloads.base import SUSTAINED, Call, Step, WorkloadConfig
from workloads.registration import Registration

T = 20.0
KEY = re.compile(rb'"Username":\{"S":"([^"]*)"')
CCF = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
       b'"message":"The conditional request failed"}')


def _answer(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


class RaceServer:
    """Answers every request at once (``answering``) or never; counts the connections it accepted."""

    def __init__(self, answering: bool = True) -> None:
        self.answering = answering
        self.seen: set[bytes] = set()
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                body = await reader.readexactly(length)
                if not self.answering:
                    continue
                match = KEY.search(body)
                key = match.group(1) if match else b""
                writer.write(_answer(400, CCF) if key in self.seen else _answer(200, b"{}"))
                self.seen.add(key)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def __aenter__(self) -> Endpoint:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return Endpoint("endpoint", f"http://127.0.0.1:{port}", "us-east-1", "none", dict(FAKE_CREDENTIALS))

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def _cancel_once_in_flight(work: Coroutine[Any, Any, Any], client: PreparedClient, requests: int) -> None:
    """Run ``work`` until ``requests`` are in flight (within 2 s), then cancel it, as Ctrl-C would."""
    task = asyncio.create_task(work)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if client.stats.in_flight == requests:
            break
    assert client.stats.in_flight == requests
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _registration(workers: int, keys: int = 3, **extra: Any) -> Registration:
    config = WorkloadConfig(workers=workers, keys=keys, rounds=1, seed=1, run_id="direct", **extra)
    return Registration(config, "ddbstress-direct-registration")


async def test_a_burst_race_records_every_op_and_one_winner_per_key(tmp_path) -> None:
    workload = _registration(8)
    async with RaceServer() as endpoint, PreparedClient(endpoint, pool=8, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            runner = StepRunner(client, workload, history, 8, Pace())
            assert runner.direct(next(iter(workload.steps())))
            steps = await asyncio.wait_for(runner.run(), T)
    ops = pair_ops(read_events(tmp_path / "h.jsonl"))
    assert steps == 3 and runner.ops == len(ops) == 24
    assert sorted(op.type for op in ops).count("ok") == 3
    assert sum(op.error == CONDITIONAL_FAILED for op in ops) == 21
    assert all(op.complete_time is not None and op.complete_time >= op.invoke_time for op in ops)


async def test_workers_beyond_the_pool_open_connections_of_their_own(tmp_path) -> None:
    workload = _registration(6, keys=1)
    async with RaceServer() as endpoint, PreparedClient(endpoint, pool=2, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            await asyncio.wait_for(StepRunner(client, workload, history, 6, Pace()).run(), T)
        assert client.stats.reconnects == 4
    ops = pair_ops(read_events(tmp_path / "h.jsonl"))
    assert len(ops) == 6 and [op.type for op in ops].count("ok") == 1


async def test_a_cancelled_race_gives_its_requests_up(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    workload = _registration(5, keys=1)
    server = RaceServer(answering=False)
    async with server as endpoint, PreparedClient(endpoint, pool=5, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            runner = StepRunner(client, workload, history, 5, Pace())
            await _cancel_once_in_flight(runner.race(Step(0, "user-r0-0000")), client, 5)
            await asyncio.sleep(0.05)
            assert client.stats.in_flight == 0
            assert client._pool is not None and client._pool.take() is None  # every connection was dropped
    events = read_events(tmp_path / "h.jsonl")
    assert [e["type"] for e in events] == [INVOKE] * 5  # invokes only: indeterminate ops
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


class _Crashing(Registration):
    """A workload whose bookkeeping raises on a conditional failure."""

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        if outcome.type == "fail":
            raise RuntimeError("bookkeeping bug")
        return super().completed(worker, step, call, outcome)


async def test_an_error_of_the_workload_fails_the_race(tmp_path) -> None:
    config = WorkloadConfig(workers=4, keys=1, rounds=1, seed=1, run_id="direct")
    workload = _Crashing(config, "ddbstress-direct-registration")
    async with RaceServer() as endpoint, PreparedClient(endpoint, pool=4, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            runner = StepRunner(client, workload, history, 4, Pace())
            with pytest.raises(RuntimeError, match="bookkeeping bug"):
                await asyncio.wait_for(runner.run(), T)


async def test_a_sustained_worker_sends_its_next_op_after_its_last_completion(tmp_path) -> None:
    workload = _registration(4, keys=2, pattern=SUSTAINED, per_key=2, sustain_s=0.3)
    async with RaceServer() as endpoint, PreparedClient(endpoint, pool=4, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            runner = StepRunner(client, workload, history, 4, Pace())
            assert runner.direct(next(iter(workload.steps())))
            await asyncio.wait_for(runner.run(), T)
    events = read_events(tmp_path / "h.jsonl")
    for worker in range(4):
        mine = [e for e in events if e["process"] == worker]
        assert len(mine) >= 10
        assert [e["type"] == INVOKE for e in mine] == [n % 2 == 0 for n in range(len(mine))]  # one op at a time
        assert [e["n"] for e in mine if e["type"] == INVOKE] == list(range(len(mine) // 2))


class _TwoCalls(Registration):
    async def execute(self, client: Any, call: Call) -> Outcome:
        return await client.send(call.request, call.prepared)


async def test_what_keeps_a_task_per_worker() -> None:
    async def gate() -> None:
        return None

    burst, sustained = _registration(2), _registration(2, pattern=SUSTAINED, per_key=2, sustain_s=1.0)
    burst_step, sustained_step = next(iter(burst.steps())), next(iter(sustained.steps()))
    config = WorkloadConfig(workers=2, keys=1, rounds=1, seed=1, run_id="direct")
    cases = {
        "one request": (StepRunner(None, burst, None, 2, Pace()), burst_step, True),  # type: ignore[arg-type]
        "its own execute": (StepRunner(None, _TwoCalls(config, "t"), None, 2, Pace()),  # type: ignore[arg-type]
                            burst_step, False),
        "unsafe": (StepRunner(None, _registration(2, unsafe=True), None, 2, Pace()),  # type: ignore[arg-type]
                   burst_step, False),
        "--rate": (StepRunner(None, burst, None, 2, Pace(rate=100)), burst_step, False),  # type: ignore[arg-type]
        "a gated burst": (StepRunner(None, burst, None, 2, Pace(), gate=gate), burst_step, True),  # type: ignore[arg-type]
        "a gated sustained loop": (StepRunner(None, sustained, None, 2, Pace(), gate=gate),  # type: ignore[arg-type]
                                   sustained_step, False),
    }
    assert {name: runner.direct(step) for name, (runner, step, _) in cases.items()} == \
        {name: expected for name, (_, _, expected) in cases.items()}


class _StuckBuilding(Registration):
    """A workload whose second race never gets built (its ``before_step`` waits forever)."""

    async def before_step(self, client: Any, step: Step) -> None:
        if step.key != self.first_key:
            await asyncio.Event().wait()

    @property
    def first_key(self) -> str:
        return next(iter(self.steps())).key


async def test_a_run_interrupted_while_building_the_next_race_gives_the_one_in_flight_up(tmp_path) -> None:
    config = WorkloadConfig(workers=5, keys=2, rounds=1, seed=1, run_id="direct")
    workload = _StuckBuilding(config, "ddbstress-direct-registration")
    async with RaceServer(answering=False) as endpoint, PreparedClient(endpoint, pool=5, timeout_s=5.0) as client:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            await _cancel_once_in_flight(StepRunner(client, workload, history, 5, Pace()).run(), client, 5)
            assert client.stats.in_flight == 0


class _Broken(DynamoClient):
    """An SDK client whose call hits a bug of ours (not a server outcome)."""

    def __init__(self) -> None:  # no aioboto3 client: nothing here talks to a server
        pass

    async def send(self, request: Any, prepared: Any = None) -> Outcome:
        raise KeyError("bug")


async def test_the_sdk_clients_submit_turns_a_crash_into_an_indeterminate_outcome(caplog) -> None:
    got: list[Outcome] = []
    await asyncio.wait([_Broken().submit(Request("put_item", {}), None, got.append)])
    assert got == [Outcome("info", error="KeyError")]
    assert "put_item crashed" in caplog.text
