"""The prepared client (harness/clients/prepared.py) classifies exactly like the SDK client, against DynamoDB Local."""

from __future__ import annotations

import asyncio
import datetime
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.serialize
import botocore.session
import botocore.utils
import pytest

from harness.backends.endpoint import FAKE_CREDENTIALS, Endpoint
from harness.backends.process import free_port
from harness.clients.choose import make_client
from harness.clients.items import typed_item
from harness.clients.prepared import Connection, PreparedClient, Response, outcome_of
from harness.clients.sdk import DynamoClient, Outcome, Request
from harness.clients.sigv4 import Credentials, Signer
from harness.engine.runner import Pace, StepRunner, create_table, delete_table, table_name
from harness.history.events import CONDITIONAL_FAILED, HistoryWriter, pair_ops, read_events
from workloads import BUILTIN, get_workload
from workloads.base import Step, WorkloadConfig
from workloads.registration import Registration

T = 30.0  # generous bound on every await against the real server
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]  # a raw test server, per connection


def _table_definition(name: str) -> dict[str, Any]:
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "Username", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "Username", "KeyType": "HASH"}]}


def _loopback(port: int) -> Endpoint:
    """An endpoint at 127.0.0.1:``port``, with the fake credentials."""
    return Endpoint("endpoint", f"http://127.0.0.1:{port}", "us-east-1", "none", dict(FAKE_CREDENTIALS))


async def _serve(handler: Handler) -> tuple[asyncio.Server, Endpoint]:
    """A server of ``handler`` on a free loopback port, and the endpoint it is."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, _loopback(server.sockets[0].getsockname()[1])


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
    endpoint = _loopback(free_port())  # nothing listens there
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

    server, endpoint = await _serve(swallow)
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
    with pytest.raises(ValueError, match="--client sdk"):
        PreparedClient(_loopback(1), pool=1, retries=2)


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "https://dynamodb.eu-west-1.amazonaws.com/",
                                 "http://h:1/a b/"])
def test_signer_matches_botocore(monkeypatch: pytest.MonkeyPatch, token: str | None, url: str) -> None:
    fixed = datetime.datetime(2024, 5, 6, 7, 8, 9)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    target = "DynamoDB_20120810.PutItem"
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
    signer = Signer(Credentials("AKIDEXAMPLE", "secret", token), "eu-west-1", botocore.auth._host_from_url(url))
    for body in (b'{"TableName": "t"}', b'{"TableName":"other","Item":{"k":{"S":"\xc3\xa9"}}}'):
        stock = botocore.awsrequest.AWSRequest("POST", url, headers=dict(headers), data=body)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDEXAMPLE", "secret", token),
                                "dynamodb", "eu-west-1").add_auth(stock)
        path = quote(botocore.utils.normalize_url_path(urlsplit(url).path), safe="/~")
        lines = signer.headers(target, body, path, amz_date="20240506T070809Z").split("\r\n")
        ours = dict(line.split(": ", 1) for line in lines if line)
        expected = {name: stock.headers[name] for name in ours}
        assert ours == expected  # Authorization, X-Amz-Date, token, target, content type: byte for byte
        assert set(ours) >= {"Authorization", "X-Amz-Date"} and ("X-Amz-Security-Token" in ours) == bool(token)


def test_signer_formats_the_current_time() -> None:
    signer = Signer(Credentials("AKID", "secret", None), "us-east-1", "127.0.0.1:8000")
    assert signer.amz_date(0) == "19700101T000000Z"
    assert signer.amz_date(1714979289.9) == "20240506T070809Z"


def _workload_calls() -> list[tuple[str, Request]]:
    calls = []
    for name in sorted(BUILTIN):
        config = WorkloadConfig(workers=4, keys=2, rounds=2, seed=3, run_id="sig")
        workload = get_workload(name)(config, f"t-{name}")
        for step in list(workload.steps())[:2]:
            for worker in range(4):
                call = workload.request(worker, step)
                if call is not None:
                    calls.append((name, call.request))
    return calls


def test_bodies_are_what_botocore_serializes() -> None:
    """The prepared client writes parameters with orjson: for every built-in workload's requests the JSON
    is the same document botocore's serializer produces; binary attributes still go through botocore."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    stock = botocore.serialize.create_serializer("json", include_validation=False)
    client = PreparedClient(_loopback(1), pool=1)
    calls = _workload_calls()
    assert {name for name, _ in calls} == set(BUILTIN)
    for _, request in calls:
        operation = model.operation_model(_api(request.operation))
        ours = client.serialize(request.params, operation)
        theirs = stock.serialize_to_request(request.params, operation)["body"]
        assert json.loads(ours) == json.loads(theirs)
    binary = {"TableName": "t", "Item": {"k": {"S": "a"}, "blob": {"B": b"\x00\xff"}, "text": {"B": "hi"}}}
    operation = model.operation_model("PutItem")
    assert json.loads(client.serialize(binary, operation)) == json.loads(
        stock.serialize_to_request(binary, operation)["body"])


def _api(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


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

    server, endpoint = await _serve(handle)
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


async def test_a_response_for_a_request_cancelled_mid_callback_is_dropped_quietly(monkeypatch):
    """Ctrl-C's SIGINT handler can cancel a request's future between data_received's ``done()`` check and its
    ``set_result`` (an InvalidStateError traceback on an interrupted run, seen in CI). Simulated here by
    cancelling the future from inside the framing step."""
    from harness.clients import prepared

    conn = prepared.Connection()
    waiter = asyncio.get_running_loop().create_future()
    conn.waiter = waiter

    def frame_and_get_interrupted():
        waiter.cancel()
        return prepared.Response(200, b"{}", None)

    monkeypatch.setattr(conn, "_frame", frame_and_get_interrupted)
    conn.data_received(b"HTTP/1.1 200 OK\r\n\r\n")  # must not raise
    assert waiter.cancelled() and conn.waiter is None
