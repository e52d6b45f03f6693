"""The prepared client (harness/prepared.py) classifies exactly like the SDK client, against DynamoDB Local."""

from __future__ import annotations

import asyncio
import datetime
import secrets
from collections.abc import Callable
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from harness import backends
from harness.backends import Endpoint
from harness.client import DynamoClient, Outcome, Request, make_client
from harness.history import CONDITIONAL_FAILED, HistoryWriter, pair_ops, read_events
from harness.items import typed_item
from harness.prepared import CachedSigV4, Connection, PreparedClient, Response, outcome_of
from harness.runner import Pace, StepRunner, create_table, delete_table, table_name
from workloads.base import Step, WorkloadConfig
from workloads.registration import Registration

T = 30.0  # generous bound on every await against the real server


def _table_definition(name: str) -> dict[str, Any]:
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "Username", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "Username", "KeyType": "HASH"}]}


def _register(table: str, key: str, writer: str) -> Request:
    item = {"Username": key, "Email": f"{writer}@example.com", "RequestId": f"{key}/{writer}"}
    params = {"TableName": table, "Item": typed_item(item), "ConditionExpression": "attribute_not_exists(#k)",
              "ExpressionAttributeNames": {"#k": "Username"}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    return Request("put_item", params, token=("RequestId", item["RequestId"]))


async def _both(endpoint: Endpoint, scenario: Callable[[DynamoClient, str], Any]) -> dict[str, Outcome]:
    """Run the same scenario through both clients, each on a fresh table; returns the outcome of each."""
    outcomes = {}
    for kind in ("sdk", "prepared"):
        async with make_client(kind, endpoint, pool=4, timeout_s=10.0) as client:
            table = f"prep-test-{kind}-{secrets.token_hex(3)}"
            await asyncio.wait_for(create_table(client, _table_definition(table)), T)
            try:
                outcomes[kind] = await asyncio.wait_for(scenario(client, table), T)
            finally:
                await delete_table(client, table)
    return outcomes


def _same(outcomes: dict[str, Outcome]) -> Outcome:
    sdk, prepared = outcomes["sdk"], outcomes["prepared"]
    assert (prepared.type, prepared.error, prepared.old, prepared.item, prepared.attempts) == \
        (sdk.type, sdk.error, sdk.old, sdk.item, sdk.attempts)
    return prepared


async def test_successful_conditional_put(local_endpoint: Endpoint) -> None:
    async def scenario(client: DynamoClient, table: str) -> Outcome:
        request = _register(table, "alice", "w1")
        return await client.send(request, client.prepare(request))

    outcome = _same(await _both(local_endpoint, scenario))
    assert outcome.type == "ok" and outcome.error is None


async def test_conditional_failure_returns_the_old_item(local_endpoint: Endpoint) -> None:
    async def scenario(client: DynamoClient, table: str) -> Outcome:
        first = _register(table, "bob", "w1")
        assert (await client.send(first, client.prepare(first))).type == "ok"
        second = _register(table, "bob", "w2")
        return await client.send(second, client.prepare(second))

    outcome = _same(await _both(local_endpoint, scenario))
    assert (outcome.type, outcome.error) == ("fail", CONDITIONAL_FAILED)
    assert outcome.old == {"Username": "bob", "Email": "w1@example.com", "RequestId": "bob/w1"}


async def test_reserved_word_is_a_validation_failure(local_endpoint: Endpoint) -> None:
    async def scenario(client: DynamoClient, table: str) -> Outcome:
        params = {"TableName": table, "Key": {"Username": {"S": "carol"}}, "UpdateExpression": "SET #r = :new",
                  "ConditionExpression": "Role = :old", "ExpressionAttributeNames": {"#r": "Role"},
                  "ExpressionAttributeValues": {":new": {"S": "admin"}, ":old": {"S": "member"}}}
        request = Request("update_item", params)
        return await client.send(request, client.prepare(request))

    outcome = _same(await _both(local_endpoint, scenario))
    assert (outcome.type, outcome.error) == ("fail", "ValidationException")


async def test_get_item_returns_the_item(local_endpoint: Endpoint) -> None:
    async def scenario(client: DynamoClient, table: str) -> Outcome:
        await client.call(_register(table, "dave", "w1"))
        return await client.call(Request("get_item", {"TableName": table, "Key": {"Username": {"S": "dave"}},
                                                      "ConsistentRead": True}))

    outcome = _same(await _both(local_endpoint, scenario))
    assert outcome.item == {"Username": "dave", "Email": "w1@example.com", "RequestId": "dave/w1"}


async def test_connection_refused_is_indeterminate() -> None:
    port = backends.free_port()  # nothing listens there
    endpoint = Endpoint("endpoint", f"http://127.0.0.1:{port}", "us-east-1", "none",
                        dict(backends.FAKE_CREDENTIALS))
    for kind in ("sdk", "prepared"):
        async with make_client(kind, endpoint, pool=2, timeout_s=2.0) as client:
            request = _register("refused", "erin", "w1")
            outcome = await asyncio.wait_for(client.send(request, client.prepare(request)), T)
            assert outcome.type == "info", (kind, outcome)


async def test_silent_server_times_out_as_indeterminate() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = Endpoint("endpoint", f"http://127.0.0.1:{port}", "us-east-1", "none",
                        dict(backends.FAKE_CREDENTIALS))
    try:
        async with PreparedClient(endpoint, pool=1, timeout_s=0.3) as client:
            request = _register("silent", "frank", "w1")
            outcome = await asyncio.wait_for(client.send(request, client.prepare(request)), T)
    finally:
        server.close()
    assert (outcome.type, outcome.error) == ("info", "TimeoutError")


async def test_two_hundred_way_race_has_exactly_one_winner(local_endpoint: Endpoint, tmp_path: Any) -> None:
    workers = 200
    config = WorkloadConfig(workers=workers, keys=1, rounds=1, seed=1, run_id=f"prep-{secrets.token_hex(3)}")
    workload = Registration(config, table_name(config.run_id, "registration"))
    path = tmp_path / "history.jsonl"
    async with PreparedClient(local_endpoint, pool=workers, timeout_s=10.0) as client:
        await asyncio.wait_for(create_table(client, workload.table_definition()), T)
        try:
            with HistoryWriter(path) as history:
                client.reset_stats()
                runner = StepRunner(client, workload, history, workers, Pace())
                await asyncio.wait_for(runner.race(Step(0, "user-r0-0000")), T)
        finally:
            await delete_table(client, workload.table)
    ops = pair_ops(read_events(path))
    assert len(ops) == workers
    assert sum(op.type == "ok" for op in ops) == 1
    assert sum(op.error == CONDITIONAL_FAILED for op in ops) == workers - 1
    assert client.stats.writes == workers
    assert client.stats.max_in_flight >= 190  # all requests left before the first answer was read


def test_retries_need_the_sdk_client() -> None:
    endpoint = Endpoint("endpoint", "http://127.0.0.1:1", "us-east-1", "none", dict(backends.FAKE_CREDENTIALS))
    with pytest.raises(ValueError, match="--client sdk"):
        PreparedClient(endpoint, pool=1, retries=2)


def test_cached_signer_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = datetime.datetime(2024, 5, 6, 7, 8, 9)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    creds = botocore.credentials.Credentials("AKIDEXAMPLE", "secret", "token")
    url = "http://127.0.0.1:8000/"
    headers = {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"}
    body = b'{"TableName": "t"}'
    stock = botocore.awsrequest.AWSRequest("POST", url, headers=dict(headers), data=body)
    botocore.auth.SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(stock)
    from harness.prepared import _SigningRequest

    ours = _SigningRequest("POST", url, dict(headers), body)
    signer = CachedSigV4(creds, "us-east-1", "127.0.0.1:8000")
    for _ in range(2):  # the second signature uses the cached key
        signer.add_auth(ours)
        assert ours.headers["Authorization"] == stock.headers["Authorization"]
        assert ours.headers["X-Amz-Date"] == stock.headers["X-Amz-Date"]
        assert ours.headers["X-Amz-Security-Token"] == "token"


class _FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


async def test_framing_split_and_chunked_responses() -> None:
    loop = asyncio.get_running_loop()
    conn = Connection()
    conn.connection_made(_FakeTransport())  # type: ignore[arg-type]
    conn.waiter = first = loop.create_future()
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-amz-crc32: 2745614147\r\n\r\n{}"
    for i in range(len(raw)):  # one byte at a time
        conn.data_received(raw[i:i + 1])
    assert (await first).body == b"{}" and conn.usable()
    conn.waiter = second = loop.create_future()
    conn.data_received(b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"__t\r\n")
    conn.data_received(b"e\r\nype\":\"x#Boom\"}\r\n0\r\n\r\n")
    response = await second
    assert response.body == b'{"__type":"x#Boom"}'
    assert outcome_of(response, None) == Outcome("fail", error="Boom")


def test_classification_of_raw_responses() -> None:
    ccf = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
           b'"Item":{"Username":{"S":"a"}}}')
    assert outcome_of(Response(400, ccf, None), None) == Outcome("fail", error=CONDITIONAL_FAILED,
                                                                 old={"Username": "a"})
    assert outcome_of(Response(500, b"oops", None), None).type == "info"
    assert outcome_of(Response(400, b'{"__type":"x#ThrottlingException"}', None), None).throttled
    assert outcome_of(Response(200, b"{}", 1), None) == Outcome("info", error="ChecksumError")
    assert outcome_of(Response(200, b'{"Attributes":{"N":{"N":"3"}}}', None), None).item == {"N": 3}


async def test_server_closed_idle_connections_are_replaced() -> None:
    accepted = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        if accepted <= 2:  # the first generation: closed while idle, like Jetty after 30 s
            await asyncio.sleep(0.2)
            writer.close()
            return
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = Endpoint("endpoint", f"http://127.0.0.1:{port}", "us-east-1", "none",
                        dict(backends.FAKE_CREDENTIALS))
    try:
        async with PreparedClient(endpoint, pool=2, timeout_s=2.0) as client:
            await asyncio.sleep(1.5)
            assert accepted == 4  # both replaced in the background, without a request asking
            assert sum(conn.usable() for conn in client._pool.idle) == 2  # type: ignore[union-attr]
            request = Request("get_item", {"TableName": "t", "Key": {"Username": {"S": "x"}}})
            outcome = await asyncio.wait_for(client.send(request, client.prepare(request)), T)
            assert outcome.type == "ok"
            assert client.stats.reconnects == 0
    finally:
        server.close()
