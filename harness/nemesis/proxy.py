"""The fault proxy: a loopback HTTP/1.1 proxy that injects the per-request faults of
:mod:`harness.nemesis.spec`.

Put a :class:`FaultProxy` between the DynamoDB client and the endpoint and point the client at
``proxy.url``; every request then passes through the proxy, which may delay it, drop its
response, reset the connection or hold it past the client timeout::

    faults = [parse_fault("lost-ack:0.05"), parse_fault("latency:20ms±5ms")]
    async with FaultProxy("http://127.0.0.1:8000", faults=faults, seed=7,
                          on_fault=lambda kind, info: history.append(fault_event(kind, info))) as proxy:
        ...  # point the client at proxy.url

The proxy only ever listens on and connects to loopback addresses (127.0.0.0/8 and ::1).
Faults are drawn per request from a ``random.Random(seed)``; every injected fault is counted
in ``proxy.counts`` and reported to ``on_fault(kind, info)`` with ``info["time"]`` set to
``time.monotonic_ns()``; :func:`harness.nemesis.spec.fault_event` turns that into a history event.

Besides the injected kinds, ``counts`` has ``requests``, ``connections`` and
``upstream-error`` (the upstream refused a connection, which the client sees as a 502, or
failed mid-response, which the client sees as a closed connection; reported through
``on_fault`` too, since it also makes outcomes indeterminate).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import random
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.clients.http1 import BadMessage, Head, content_length, is_chunked, keep_alive, parse_head
from harness.history.events import time_ns
from harness.nemesis.spec import CRASH, LATENCY, LOST_ACK, RESET, STALL, FaultSpec, check_unique

log = logging.getLogger(__name__)

UPSTREAM_ERROR = "upstream-error"
OnFault = Callable[[str, dict[str, Any]], None]
# Per-request faults that exclude each other, in the order they are drawn.
_CHANCY_ORDER = (RESET, STALL, LOST_ACK)
_STREAM_LIMIT = 1 << 20
_STOP_TIMEOUT_S = 2.0


# --------------------------------------------------------------------------- loopback checks


def loopback_host(host: str) -> str:
    """Return ``host`` as a loopback IP literal; raises ValueError for anything else.

    Only 127.0.0.0/8, ``::1`` and the name ``localhost`` (→ 127.0.0.1) pass; no name is
    ever resolved.
    """
    bare = host.strip().strip("[]")
    if bare.lower() == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(bare)
    except ValueError:
        raise ValueError(f"fault proxy: {host!r} is not a loopback IP address "
                         "(only 127.0.0.0/8 and ::1 are allowed)") from None
    if not addr.is_loopback:
        raise ValueError(f"fault proxy: {host!r} is outside loopback (only 127.0.0.0/8 and ::1 are allowed)")
    return str(addr)


def _parse_upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    if parts.scheme != "http":
        raise ValueError(f"fault proxy: upstream {url!r} must be an http:// URL")
    if parts.hostname is None:
        raise ValueError(f"fault proxy: upstream {url!r} has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"fault proxy: upstream {url!r} must be just http://HOST:PORT")
    host = loopback_host(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"fault proxy: upstream {url!r} has a bad port") from None
    return host, 80 if port is None else port


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"



# --------------------------------------------------------------------------- reading messages


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The next message head, or None on a clean EOF before any byte of it."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip(b"\r\n"):
            raise BadMessage("connection closed in the middle of a message head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large") from None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, returned raw (chunk framing and trailers included)."""
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadMessage(f"bad chunk size line {line[:40]!r}") from None
        if size < 0:
            raise BadMessage("negative chunk size")
        if size == 0:
            break
        parts.append(await reader.readexactly(size + 2))
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        if line == b"\r\n":
            return b"".join(parts)


async def _read_request_body(reader: asyncio.StreamReader, head: Head) -> bytes:
    if is_chunked(head.headers):
        return await _read_chunked(reader)
    length = content_length(head.headers)
    return await reader.readexactly(length) if length else b""


@dataclass(slots=True)
class _Response:
    data: bytes
    status: int
    keep_alive: bool


async def _read_response(reader: asyncio.StreamReader, method: bytes) -> _Response:
    """Read one whole response (interim 1xx responses included in ``data``)."""
    interim: list[bytes] = []
    while True:
        raw = await _read_head(reader)
        if raw is None:
            raise ConnectionResetError("upstream closed the connection before responding")
        head = parse_head(raw)
        try:
            status = int(head.start[1])
        except ValueError:
            raise BadMessage(f"bad status line {head.start!r}") from None
        if 100 <= status < 200 and status != 101:
            interim.append(raw)
            continue
        break
    reuse = keep_alive(head.start[0], head.headers)
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif is_chunked(head.headers):
        body = await _read_chunked(reader)
    elif (length := content_length(head.headers)) is not None:
        body = await reader.readexactly(length) if length else b""
    else:
        body = await reader.read()  # delimited by the upstream closing the connection
        reuse = False
    return _Response(b"".join(interim) + raw + body, status, reuse)


def _simple_response(status: str, error: str, message: str) -> bytes:
    """A complete ``Connection: close`` response with a DynamoDB-style JSON error body."""
    body = json.dumps({"__type": f"ddbstress.faultproxy#{error}", "message": message}).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- the proxy


@dataclass(slots=True)
class _Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or self.reader.exception())


@dataclass(slots=True)
class _Conn:
    id: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: int = 0
    upstream: _Upstream | None = None


@dataclass(slots=True)
class _Request:
    conn: _Conn
    seq: int
    head: Head
    body: bytes

    def describe(self) -> dict[str, Any]:
        """Fields that identify the request in a fault report."""
        target = self.head.headers.get(b"x-amz-target")
        return {"conn": self.conn.id, "request": self.seq, "conn_request": self.conn.requests,
                "method": self.head.start[0].decode("latin-1"),
                "path": self.head.start[1].decode("latin-1"),
                "target": None if target is None else target.decode("latin-1")}


class FaultProxy:
    """An asyncio HTTP/1.1 reverse proxy on loopback that injects faults per request.

    Each client connection gets its own upstream connection (opened on its first request,
    reused while both sides keep the connection alive). Requests on a connection are proxied
    one after another, as HTTP/1.1 requires.
    """

    def __init__(self, upstream_url: str, faults: Iterable[FaultSpec] = (), *, seed: int = 0,
                 on_fault: OnFault | None = None, host: str = "127.0.0.1", port: int = 0,
                 report_latency: bool = False, connect_timeout: float = 5.0,
                 upstream_timeout: float = 120.0) -> None:
        """Check the addresses and faults; nothing is opened until :meth:`start`.

        ``faults`` may include ``crash`` specs, which the proxy ignores (``harness.nemesis.crash.CrashLoop``
        executes them). ``report_latency`` also reports every delayed request to
        ``on_fault`` (off by default: it would add one history event per request).
        ``upstream_timeout`` bounds the wait for an upstream response.
        Raises ValueError for a non-loopback host/upstream or a kind given twice.
        """
        self.upstream_host, self.upstream_port = _parse_upstream(upstream_url)
        self.host = loopback_host(host)
        self._port = port
        self.faults = [f for f in faults if f.kind != CRASH]
        check_unique(self.faults)
        by_kind = {f.kind: f for f in self.faults}
        self._latency = by_kind.get(LATENCY)
        self._chancy = [by_kind[k] for k in _CHANCY_ORDER if k in by_kind]
        self._rng = random.Random(seed)
        self._on_fault = on_fault
        self.report_latency = report_latency
        self.connect_timeout = connect_timeout
        self.upstream_timeout = upstream_timeout
        self.counts: dict[str, int] = dict.fromkeys(
            ("requests", "connections", LATENCY, LOST_ACK, RESET, STALL, UPSTREAM_ERROR), 0)
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._conn_ids = itertools.count(1)
        self._seq = itertools.count(1)

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The port the proxy listens on (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("fault proxy is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint URL to give the SDK."""
        return _url(self.host, self.port)

    @property
    def upstream_url(self) -> str:
        """The endpoint requests are forwarded to."""
        return _url(self.upstream_host, self.upstream_port)

    async def start(self) -> FaultProxy:
        """Start listening (port 0 picks a free port); returns self."""
        if self._server is not None:
            raise RuntimeError("fault proxy already started")
        self._stopping = False
        self._server = await asyncio.start_server(self._handle, self.host, self._port,
                                                  limit=_STREAM_LIMIT, backlog=1024)
        log.debug("fault proxy %s -> %s, faults %s", self.url, self.upstream_url,
                  [str(f) for f in self.faults])
        return self

    async def stop(self) -> None:
        """Stop listening, abort every client and upstream connection, end all tasks (bounded)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        server.close()
        for transport in list(self._transports):
            transport.abort()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _STOP_TIMEOUT_S)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- per connection

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._transports.add(writer.transport)
        conn = _Conn(next(self._conn_ids), reader, writer)
        self.counts["connections"] += 1
        try:
            while not self._stopping and await self._serve_one(conn):
                pass
        except BadMessage as exc:
            log.debug("fault proxy conn %d: %s", conn.id, exc)
            with contextlib.suppress(Exception):
                writer.write(_simple_response("400 Bad Request", "MalformedRequest", str(exc)))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            log.debug("fault proxy conn %d: %r", conn.id, exc)
        except asyncio.CancelledError:
            pass  # stop(): end quietly, the transports are already aborted
        except Exception:
            log.exception("fault proxy conn %d failed", conn.id)
        finally:
            self._close_upstream(conn)
            writer.close()
            self._transports.discard(writer.transport)
            if task is not None:
                self._tasks.discard(task)

    async def _serve_one(self, conn: _Conn) -> bool:
        """Proxy the next request on ``conn``; False when the client connection must end."""
        raw = await _read_head(conn.reader)
        if raw is None:
            return False
        head = parse_head(raw)
        if len(head.start) != 3 or not head.start[2].startswith(b"HTTP/1."):
            raise BadMessage(f"not an HTTP/1.x request line: {head.start!r}")
        if head.headers.get(b"expect", b"").lower() == b"100-continue":
            conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the upstream's own 100 is passed on too
        body = await _read_request_body(conn.reader, head)
        conn.requests += 1
        self.counts["requests"] += 1
        req = _Request(conn, next(self._seq), head, body)
        client_keep_alive = keep_alive(head.start[2], head.headers)
        action = self._draw()
        await self._delay(req)
        if action == RESET:
            self._report(RESET, req)
            _reset(conn.writer)
            return False
        if action == STALL:
            await self._stall(req)
            return False
        response = await self._forward(req)
        if response is None:
            return False
        if action == LOST_ACK:
            self._report(LOST_ACK, req, status=response.status)
            return False
        conn.writer.write(response.data)
        await conn.writer.drain()
        return response.keep_alive and client_keep_alive

    # ----------------------------------------------------------------- faults

    def _draw(self) -> str | None:
        """The exclusive fault for the next request (reset, stall, lost-ack) or None."""
        for spec in self._chancy:
            if self._rng.random() < spec.probability:
                return spec.kind
        return None

    async def _delay(self, req: _Request) -> None:
        spec = self._latency
        if spec is None:
            return
        delay = spec.delay_s
        if spec.jitter_s:
            delay = max(0.0, self._rng.uniform(delay - spec.jitter_s, delay + spec.jitter_s))
        if self.report_latency:
            self._report(LATENCY, req, delay_ms=round(delay * 1000, 3))
        else:
            self.counts[LATENCY] += 1
        await asyncio.sleep(delay)

    async def _stall(self, req: _Request) -> None:
        spec = next(s for s in self._chancy if s.kind == STALL)
        self._report(STALL, req, hold_s=spec.hold_s)
        await asyncio.sleep(spec.hold_s)

    def _report(self, kind: str, req: _Request, **extra: Any) -> None:
        """Count one fault and hand it to ``on_fault``."""
        self.counts[kind] += 1
        if self._on_fault is None:
            return
        info = {"time": time_ns(), **req.describe(), **extra}
        try:
            self._on_fault(kind, info)
        except Exception:
            log.exception("fault proxy: on_fault callback failed")

    # ----------------------------------------------------------------- upstream

    async def _forward(self, req: _Request) -> _Response | None:
        """Send ``req`` upstream and read the whole response; None if the upstream failed."""
        conn = req.conn
        upstream = await self._connect(conn)
        if upstream is None:
            self._report(UPSTREAM_ERROR, req, phase="connect")
            conn.writer.write(_simple_response("502 Bad Gateway", "UpstreamUnavailable",
                                               "fault proxy cannot reach the upstream"))
            return None
        try:
            upstream.writer.write(req.head.raw + req.body)
            async with asyncio.timeout(self.upstream_timeout):
                await upstream.writer.drain()
                response = await _read_response(upstream.reader, req.head.start[0])
        except (OSError, TimeoutError, asyncio.IncompleteReadError, BadMessage) as exc:
            self._close_upstream(conn)
            self._report(UPSTREAM_ERROR, req, phase="response", error=type(exc).__name__)
            return None
        if not response.keep_alive:
            self._close_upstream(conn)
        return response

    async def _connect(self, conn: _Conn) -> _Upstream | None:
        """The connection's upstream connection, (re)opened if needed; None if that fails."""
        if conn.upstream is not None:
            if conn.upstream.usable():
                return conn.upstream
            self._close_upstream(conn)
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port, limit=_STREAM_LIMIT)
        except (OSError, TimeoutError) as exc:
            log.debug("fault proxy: cannot connect to %s: %r", self.upstream_url, exc)
            return None
        self._transports.add(writer.transport)
        conn.upstream = _Upstream(reader, writer)
        return conn.upstream

    def _close_upstream(self, conn: _Conn) -> None:
        upstream, conn.upstream = conn.upstream, None
        if upstream is not None:
            upstream.writer.transport.abort()
            self._transports.discard(upstream.writer.transport)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
