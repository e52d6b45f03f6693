"""Tests of the fault proxy (harness/nemesis/proxy.py) against a tiny loopback HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from harness.nemesis.proxy import FaultProxy, loopback_host
from harness.nemesis.spec import (
    CRASH,
    DEFAULT_STALL_HOLD_S,
    LATENCY,
    LOST_ACK,
    RESET,
    STALL,
    FaultSpec,
    fault_event,
    format_duration,
    parse_duration,
    parse_fault,
    parse_faults,
)

T = 10.0  # generous per-step timeout: nothing here should ever come close


# --------------------------------------------------------------------------- test server


class Upstream:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that records every request body it receives.

    It answers ``{"n": <requests so far>, "echo": <body>}`` with Content-Length, or chunked
    for the path ``/chunked``; ``/drop`` closes the connection instead of answering, ``/bye``
    answers (as keep-alive) and then closes the idle connection.
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        start, headers = parse_head(head)
        if headers.get("transfer-encoding") == "chunked":
            body = await read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.bodies.append(body)
        if start[1] == "/drop":
            return False  # applied, but the connection closes without a response
        payload = json.dumps({"n": len(self.bodies), "echo": body.decode()}).encode()
        if start[1] == "/chunked":
            half = len(payload) // 2
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                         % (half, payload[:half], len(payload) - half, payload[half:]))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        await writer.drain()
        return headers.get("connection") != "close" and start[1] != "/bye"

    def received(self) -> set[int]:
        """The ids of the requests sent by :func:`post` that reached the server."""
        return {json.loads(b)["id"] for b in self.bodies if b.startswith(b"{")}


def parse_head(head: bytes) -> tuple[list[str], dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0].split(" ", 2), headers


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Decode a chunked body (test side)."""
    out = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return out
        out += (await reader.readexactly(size + 2))[:-2]


# --------------------------------------------------------------------------- raw client


class Client:
    """One keep-alive client connection over raw asyncio streams (no hidden retries)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), T)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A fresh connection's reader and writer, for raw bytes."""
        await self.connect()
        assert self.reader is not None and self.writer is not None
        return self.reader, self.writer

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def post(self, body: bytes, path: str = "/",
                   extra: bytes = b"") -> tuple[int, bytes, dict[str, str]]:
        """Send one POST and read its response (Content-Length or chunked)."""
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: test\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
                          b"Content-Length: %d\r\n%s\r\n%s" % (path.encode(), len(body), extra, body))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        start, headers = parse_head(head)
        if headers.get("transfer-encoding") == "chunked":
            data = await read_chunked(self.reader)
        else:
            data = await self.reader.readexactly(int(headers["content-length"]))
        return int(start[1]), data, headers

    async def post_id(self, i: int) -> dict[str, Any]:
        status, data, _ = await self.post(json.dumps({"id": i}).encode())
        assert status == 200
        return json.loads(data)


@asynccontextmanager
async def proxied(faults: list[str], seed: int = 1, **kwargs: Any
                  ) -> AsyncIterator[tuple[Upstream, FaultProxy, list[tuple[str, dict[str, Any]]]]]:
    """An upstream server and a fault proxy in front of it, with the reported faults."""
    reported: list[tuple[str, dict[str, Any]]] = []
    async with Upstream() as upstream:
        proxy = FaultProxy(upstream.url, faults=[parse_fault(f) for f in faults], seed=seed,
                           on_fault=lambda kind, info: reported.append((kind, info)), **kwargs)
        async with proxy:
            yield upstream, proxy, reported


async def run_sequence(url: str, n: int, timeout: float = T) -> tuple[list[int], dict[int, BaseException]]:
    """Send ids 0..n-1 one by one over keep-alive; reconnect after a failure."""
    ok: list[int] = []
    failed: dict[int, BaseException] = {}
    async with Client(url) as client:
        for i in range(n):
            try:
                reply = await asyncio.wait_for(client.post_id(i), timeout)
                assert reply["echo"] == json.dumps({"id": i})
                ok.append(i)
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
                failed[i] = exc
                client.close()
    return ok, failed


# --------------------------------------------------------------------------- parse_fault


@pytest.mark.parametrize(("spec", "expected"), [
    ("latency:20ms", FaultSpec(LATENCY, delay_s=0.02)),
    ("latency:20ms±5ms", FaultSpec(LATENCY, delay_s=0.02, jitter_s=0.005)),
    ("latency:20ms+-5ms", FaultSpec(LATENCY, delay_s=0.02, jitter_s=0.005)),
    ("latency:1.5s", FaultSpec(LATENCY, delay_s=1.5)),
    (" Latency:1s+-0.5s ", FaultSpec(LATENCY, delay_s=1.0, jitter_s=0.5)),
    ("lost-ack:0.05", FaultSpec(LOST_ACK, probability=0.05)),
    ("lost-ack:1", FaultSpec(LOST_ACK, probability=1.0)),
    ("reset:0.02", FaultSpec(RESET, probability=0.02)),
    ("stall:0.01", FaultSpec(STALL, probability=0.01, hold_s=DEFAULT_STALL_HOLD_S)),
    ("stall:0.5,hold=500ms", FaultSpec(STALL, probability=0.5, hold_s=0.5)),
    ("crash:every=10s", FaultSpec(CRASH, interval_s=10.0)),
    ("crash:every=1500ms", FaultSpec(CRASH, interval_s=1.5)),
])
def test_parse_fault_good(spec: str, expected: FaultSpec) -> None:
    fault = parse_fault(spec)
    assert fault == expected
    assert parse_fault(str(fault)) == fault  # the canonical string round-trips
    assert fault.as_dict()["kind"] == expected.kind


@pytest.mark.parametrize(("spec", "message"), [
    ("", "expected KIND:ARGS"),
    ("latency", "expected KIND:ARGS"),
    ("latency:", "expected KIND:ARGS"),
    ("jitter:5ms", "unknown kind 'jitter'"),
    ("latency:20", "needs a number and a unit"),
    ("latency:20min", "needs a number and a unit"),
    ("latency:-5ms", "needs a number and a unit"),
    ("latency:0ms", "delay must be positive"),
    ("latency:5ms±10ms", "jitter must not exceed the delay"),
    ("latency:5ms±1ms±1ms", "DELAY±JITTER"),
    ("latency:2min", "needs a number and a unit"),
    ("latency:120s", "at most 60s"),
    ("lost-ack:0", "probability must be in (0, 1]"),
    ("lost-ack:1.5", "probability must be in (0, 1]"),
    ("lost-ack:-0.1", "probability must be in (0, 1]"),
    ("lost-ack:nan", "probability must be in (0, 1]"),
    ("reset:often", "is not a number"),
    ("reset:5%", "is not a number"),
    ("stall:0.1,wait=1s", "unknown stall option"),
    ("stall:0.1,hold=0s", "hold must be in"),
    ("stall:0.1,hold=1h", "needs a number and a unit"),
    ("stall:0.1,hold=900s", "hold must be in"),
    ("crash:10s", "expected crash:every=DURATION"),
    ("crash:every=0s", "interval must be positive"),
    ("crash:every=soon", "needs a number and a unit"),
])
def test_parse_fault_bad(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_fault(spec)
    text = str(info.value)
    assert message in text
    assert text.startswith(f"bad fault spec {spec!r}")
    assert "\n" not in text


def test_parse_faults_rejects_duplicates() -> None:
    assert [f.kind for f in parse_faults(["reset:0.1", "latency:1ms"])] == [RESET, LATENCY]
    with pytest.raises(ValueError, match="more than once"):
        parse_faults(["reset:0.1", "reset:0.2"])


def test_durations() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration(".5s") == 0.5
    assert format_duration(0.02) == "20ms"
    assert format_duration(10.0) == "10s"
    assert format_duration(1.5) == "1500ms"


def test_fault_event_shape() -> None:
    event = fault_event(LOST_ACK, {"time": 123, "conn": 4, "status": 200})
    assert event == {"type": "info", "process": "nemesis", "f": "fault",
                     "value": {"kind": "lost-ack", "conn": 4, "status": 200}, "time": 123}


# --------------------------------------------------------------------------- loopback only


@pytest.mark.parametrize("url", [
    "http://10.0.0.1:8000", "http://192.168.1.1:8000", "http://8.8.8.8:53", "http://0.0.0.0:8000",
    "http://[2001:db8::1]:8000", "http://example.com:8000", "https://127.0.0.1:8000",
    "http://127.0.0.1:8000/prefix", "ftp://127.0.0.1:21", "http://:8000", "http://127.0.0.1:99999",
])
def test_upstream_outside_loopback_refused(url: str) -> None:
    with pytest.raises(ValueError, match="fault proxy"):
        FaultProxy(url)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", ""])
def test_bind_outside_loopback_refused(host: str) -> None:
    with pytest.raises(ValueError, match="fault proxy"):
        FaultProxy("http://127.0.0.1:8000", host=host)


def test_loopback_accepted() -> None:
    assert loopback_host("127.0.0.5") == "127.0.0.5"
    assert loopback_host("[::1]") == "::1"
    assert loopback_host("localhost") == "127.0.0.1"
    assert FaultProxy("http://localhost:8000").upstream_url == "http://127.0.0.1:8000"
    assert FaultProxy("http://[::1]:8000/").upstream_url == "http://[::1]:8000"


def test_proxy_rejects_duplicate_kinds_and_ignores_crash() -> None:
    with pytest.raises(ValueError, match="more than once"):
        FaultProxy("http://127.0.0.1:8000", faults=[parse_fault("reset:0.1"), parse_fault("reset:0.2")])
    proxy = FaultProxy("http://127.0.0.1:8000", faults=[parse_fault("crash:every=5s")])
    assert proxy.faults == []


# --------------------------------------------------------------------------- proxying


async def test_no_faults_keep_alive_concurrent() -> None:
    clients, per_client = 100, 5
    async with proxied([]) as (upstream, proxy, reported):
        connector = aiohttp.TCPConnector(limit=clients, force_close=False)
        timeout = aiohttp.ClientTimeout(total=T)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker(w: int) -> None:
                for r in range(per_client):
                    body = json.dumps({"id": w * per_client + r})
                    async with session.post(proxy.url + "/", data=body,
                                            headers={"Content-Type": "application/x-amz-json-1.0"}) as resp:
                        assert resp.status == 200
                        assert (await resp.json(content_type=None))["echo"] == body

            await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(clients))), 3 * T)
        assert upstream.received() == set(range(clients * per_client))
        assert proxy.counts["requests"] == clients * per_client
        assert proxy.counts["connections"] <= clients  # connections were reused
        assert upstream.connections == proxy.counts["connections"]
        assert reported == []


async def test_many_requests_on_one_connection() -> None:
    async with proxied([]) as (upstream, proxy, _):
        ok, failed = await run_sequence(proxy.url, 300)
        assert failed == {}
        assert len(ok) == 300
        assert proxy.counts["connections"] == upstream.connections == 1


async def test_200_concurrent_connections() -> None:
    async with proxied([]) as (upstream, proxy, _):
        clients = [Client(proxy.url) for _ in range(200)]

        async def worker(w: int, client: Client) -> None:
            for r in range(3):
                reply = await client.post_id(w * 3 + r)
                assert reply["echo"] == json.dumps({"id": w * 3 + r})

        started = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(worker(w, c) for w, c in enumerate(clients))), T)
        finally:
            for client in clients:
                client.close()
        assert time.perf_counter() - started < 5.0
        assert len(upstream.received()) == 600
        assert proxy.counts["connections"] == 200


async def test_chunked_response_and_request_pass_through() -> None:
    async with proxied([]) as (upstream, proxy, _):
        async with Client(proxy.url) as client:
            status, data, headers = await asyncio.wait_for(client.post(b'{"id": 1}', "/chunked"), T)
            assert status == 200 and headers["transfer-encoding"] == "chunked"
            assert json.loads(data)["echo"] == '{"id": 1}'
            assert client.writer is not None and client.reader is not None
            client.writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"5\r\n{\"id\"\r\n3;ext=1\r\n: 2\r\n1\r\n}\r\n0\r\n\r\n")
            head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), T)
            _, headers = parse_head(head)
            body = await client.reader.readexactly(int(headers["content-length"]))
            assert json.loads(body)["echo"] == '{"id": 2}'
        assert upstream.received() == {1, 2}


async def test_expect_100_continue() -> None:
    async with proxied([]) as (upstream, proxy, _):
        async with Client(proxy.url) as client:
            reader, writer = await client.streams()
            writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
            assert interim.startswith(b"HTTP/1.1 100 ")
            writer.write(b'{"id": 7}')
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
            assert head.startswith(b"HTTP/1.1 200 ")
        assert upstream.received() == {7}


async def test_connection_close_is_honoured() -> None:
    async with proxied([]) as (_, proxy, _), Client(proxy.url) as client:
        status, _, _ = await asyncio.wait_for(client.post(b"{}", extra=b"Connection: close\r\n"), T)
        assert status == 200
        assert client.reader is not None
        assert await asyncio.wait_for(client.reader.read(), T) == b""


async def test_upstream_down_gives_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    reported: list[tuple[str, dict[str, Any]]] = []
    async with FaultProxy(f"http://127.0.0.1:{port}", on_fault=lambda k, i: reported.append((k, i))) as proxy:
        async with Client(proxy.url) as client:
            status, data, _ = await asyncio.wait_for(client.post(b"{}"), T)
        assert status == 502
        assert "UpstreamUnavailable" in json.loads(data)["__type"]
        assert proxy.counts["upstream-error"] == 1
        assert [k for k, _ in reported] == ["upstream-error"]


async def test_upstream_failing_mid_request_closes_client() -> None:
    async with proxied([]) as (upstream, proxy, reported):
        async with Client(proxy.url) as client:
            with pytest.raises(asyncio.IncompleteReadError):
                await asyncio.wait_for(client.post(b'{"id": 1}', "/drop"), T)
        assert upstream.received() == {1}
        assert proxy.counts["upstream-error"] == 1
        assert reported[0][0] == "upstream-error" and reported[0][1]["phase"] == "response"


async def test_upstream_closing_idle_connection_is_reopened() -> None:
    async with proxied([]) as (upstream, proxy, reported):
        async with Client(proxy.url) as client:
            for i in range(3):
                status, _, _ = await asyncio.wait_for(client.post(json.dumps({"id": i}).encode(), "/bye"), T)
                assert status == 200
                await asyncio.sleep(0.05)
        assert proxy.counts["connections"] == 1 and upstream.connections == 3
        assert reported == []


async def test_failing_callback_does_not_break_the_proxy() -> None:
    def explode(kind: str, info: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    async with Upstream() as upstream, FaultProxy(upstream.url, faults=[parse_fault("lost-ack:0.5")],
                                                  on_fault=explode) as proxy:
        _, failed = await run_sequence(proxy.url, 20)
        assert len(failed) == proxy.counts[LOST_ACK] > 0
        assert upstream.received() == set(range(20))


async def test_bad_request_gets_400() -> None:
    async with proxied([]) as (upstream, proxy, _):
        async with Client(proxy.url) as client:
            reader, writer = await client.streams()
            writer.write(b"GET /\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), T)
        assert data.startswith(b"HTTP/1.1 400 ")
        assert upstream.bodies == []


# --------------------------------------------------------------------------- faults


async def test_lost_ack_applies_but_never_answers() -> None:
    async with proxied(["lost-ack:0.2"]) as (upstream, proxy, reported):
        _, failed = await run_sequence(proxy.url, 300)
        assert failed, "expected some lost acks at p=0.2 over 300 requests"
        for exc in failed.values():
            assert isinstance(exc, asyncio.IncompleteReadError) and exc.partial == b""  # clean EOF
        assert upstream.received() == set(range(300))  # every request was applied, acked or not
        assert proxy.counts[LOST_ACK] == len(failed)
        assert [k for k, _ in reported] == [LOST_ACK] * len(failed)
        now = time.monotonic_ns()
        for _, info in reported:
            assert 0 < now - info["time"] < 60 * 10**9
            assert info["status"] == 200 and info["target"] == "DynamoDB_20120810.PutItem"
        event = fault_event(*reported[0])
        assert event["process"] == "nemesis" and event["value"]["kind"] == LOST_ACK


async def test_reset_never_forwards() -> None:
    async with proxied(["reset:0.2"]) as (upstream, proxy, reported):
        ok, failed = await run_sequence(proxy.url, 300)
        assert failed, "expected some resets at p=0.2 over 300 requests"
        assert all(isinstance(exc, ConnectionResetError) for exc in failed.values())
        assert upstream.received() == set(ok)  # none of the reset requests reached the server
        assert not set(failed) & upstream.received()
        assert proxy.counts[RESET] == len(failed)
        assert [k for k, _ in reported] == [RESET] * len(failed)


async def test_faults_are_reproducible_with_a_seed() -> None:
    outcomes = []
    for _ in range(2):
        async with proxied(["reset:0.1", "lost-ack:0.1"], seed=42) as (_, proxy, _):
            _, failed = await run_sequence(proxy.url, 100)
            outcomes.append(sorted(failed))
    assert outcomes[0] == outcomes[1] and outcomes[0]


async def test_latency_added() -> None:
    async def medians(url: str) -> float:
        samples = []
        async with Client(url) as client:
            for i in range(20):
                started = time.perf_counter()
                await asyncio.wait_for(client.post_id(i), T)
                samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    async with proxied(["latency:50ms±10ms"]) as (upstream, proxy, reported):
        added = await medians(proxy.url) - await medians(upstream.url)
        assert 0.035 < added < 0.09
        assert proxy.counts[LATENCY] == 20
        assert reported == []  # latency is counted, not reported, unless asked


async def test_latency_reported_when_asked() -> None:
    async with proxied(["latency:5ms"], report_latency=True) as (_, proxy, reported):
        _, failed = await run_sequence(proxy.url, 5)
        assert failed == {}
        assert [k for k, _ in reported] == [LATENCY] * 5
        assert all(info["delay_ms"] == 5.0 for _, info in reported)


async def test_stall_outlives_client_timeout_then_closes() -> None:
    async with proxied(["stall:1,hold=500ms"]) as (upstream, proxy, reported):
        clients = [Client(proxy.url) for _ in range(5)]

        async def one(i: int, client: Client) -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.post_id(i), 0.2)
            # the held connection is closed once the hold is over
            assert client.reader is not None
            started = time.perf_counter()
            assert await asyncio.wait_for(client.reader.read(), 2.0) == b""
            assert time.perf_counter() - started < 1.0

        try:
            await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
        finally:
            for client in clients:
                client.close()
        assert upstream.bodies == []
        assert proxy.counts[STALL] == 5
        assert all(k == STALL and info["hold_s"] == 0.5 for k, info in reported)


async def test_stop_is_prompt_with_stalled_and_idle_connections() -> None:
    async with Upstream() as upstream:
        proxy = FaultProxy(upstream.url, faults=[parse_fault("stall:0.5")], seed=3)  # 30 s holds
        await proxy.start()
        clients = [Client(proxy.url) for _ in range(10)]
        try:
            results = await asyncio.gather(*(asyncio.wait_for(c.post_id(i), 0.3)
                                             for i, c in enumerate(clients)), return_exceptions=True)
            assert any(isinstance(r, TimeoutError) for r in results)
            assert any(isinstance(r, dict) for r in results)  # idle keep-alive connections too
            started = time.perf_counter()
            await asyncio.wait_for(proxy.stop(), 3.0)
            assert time.perf_counter() - started < 1.0
            for client in clients:
                assert client.reader is not None
                with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                    await asyncio.wait_for(client.post_id(99), 1.0)
            with pytest.raises(RuntimeError):
                _ = proxy.url
        finally:
            for client in clients:
                client.close()
            await proxy.stop()  # idempotent
