"""The fault injector ("nemesis"): a loopback HTTP/1.1 proxy that injects network faults.

Put a :class:`FaultProxy` between the DynamoDB client and the endpoint and point the SDK at
``proxy.url``; every request then passes through the proxy, which may delay it, drop its
response, reset the connection or hold it past the client timeout::

    faults = [parse_fault("lost-ack:0.05"), parse_fault("latency:20ms±5ms")]
    async with FaultProxy("http://127.0.0.1:8000", faults=faults, seed=7,
                          on_fault=lambda kind, info: history.append(fault_event(kind, info))) as proxy:
        ...  # create the aioboto3 client with endpoint_url=proxy.url

Fault specs (the ``--fault`` strings, see :func:`parse_fault`):

``latency:20ms`` / ``latency:20ms±5ms`` (or ``+-``)
    delay every request by that much (uniform jitter) before it is forwarded.
``lost-ack:P``
    with probability P forward the request, read the server's whole response (the write is
    applied) and close the client connection without sending it: the client cannot know.
``reset:P``
    with probability P reset the client connection (TCP RST) before forwarding anything.
``stall:P`` / ``stall:P,hold=5s``
    with probability P hold the request without forwarding it for ``hold`` (default 30 s,
    at most 600 s), then close the client connection.
``crash:every=10s``
    parsed here, executed by ``harness.run.CrashLoop`` (SIGKILL and restart the managed DynamoDB Local
    while a workload races; races wait for the restart).

The proxy only ever listens on and connects to loopback addresses (127.0.0.0/8 and ::1).
Faults are drawn per request from a ``random.Random(seed)``; every injected fault is counted
in ``proxy.counts`` and reported to ``on_fault(kind, info)`` with ``info["time"]`` set to
``time.monotonic_ns()``; :func:`fault_event` turns that into a history event.

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
import math
import random
import re
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.history import INFO, NEMESIS, time_ns

log = logging.getLogger(__name__)

LATENCY = "latency"
LOST_ACK = "lost-ack"
RESET = "reset"
STALL = "stall"
CRASH = "crash"
UPSTREAM_ERROR = "upstream-error"
FAULT_KINDS = (LATENCY, LOST_ACK, RESET, STALL, CRASH)

DEFAULT_STALL_HOLD_S = 30.0
MAX_STALL_HOLD_S = 600.0
MAX_LATENCY_S = 60.0

OnFault = Callable[[str, dict[str, Any]], None]

_FORMS = "latency:20ms[±5ms], lost-ack:P, reset:P, stall:P[,hold=30s], crash:every=10s"
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")
# Per-request faults that exclude each other, in the order they are drawn.
_CHANCY_ORDER = (RESET, STALL, LOST_ACK)
_STREAM_LIMIT = 1 << 20
_STOP_TIMEOUT_S = 2.0


# --------------------------------------------------------------------------- fault specs


@dataclass(frozen=True)
class FaultSpec:
    """One parsed fault. Only the fields that belong to ``kind`` are meaningful.

    ``probability`` is the per-request chance (lost-ack, reset, stall; 1.0 for latency),
    ``delay_s``/``jitter_s`` the latency, ``hold_s`` how long a stall holds a request and
    ``interval_s`` how often the backend is crashed.
    """

    kind: str
    probability: float = 1.0
    delay_s: float = 0.0
    jitter_s: float = 0.0
    hold_s: float = 0.0
    interval_s: float = 0.0

    def __str__(self) -> str:
        if self.kind == LATENCY:
            jitter = f"±{format_duration(self.jitter_s)}" if self.jitter_s else ""
            return f"latency:{format_duration(self.delay_s)}{jitter}"
        if self.kind == STALL:
            hold = "" if self.hold_s == DEFAULT_STALL_HOLD_S else f",hold={format_duration(self.hold_s)}"
            return f"stall:{self.probability:g}{hold}"
        if self.kind == CRASH:
            return f"crash:every={format_duration(self.interval_s)}"
        return f"{self.kind}:{self.probability:g}"

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON (for ``run.json``): the kind, the canonical string, its fields."""
        fields = {
            LATENCY: {"delay_s": self.delay_s, "jitter_s": self.jitter_s},
            STALL: {"probability": self.probability, "hold_s": self.hold_s},
            CRASH: {"interval_s": self.interval_s},
        }.get(self.kind, {"probability": self.probability})
        return {"kind": self.kind, "spec": str(self), **fields}


def parse_duration(text: str) -> float:
    """Parse ``20ms`` / ``1.5s`` into seconds; raises ValueError without a unit."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"duration {text!r} needs a number and a unit, like 20ms or 1.5s")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`: ``0.02`` → ``20ms``, ``10.0`` → ``10s``."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{seconds:g}s"
    return f"{round(seconds * 1000, 6):g}ms"


def parse_fault(spec: str) -> FaultSpec:
    """Parse one ``--fault`` string (see the module docstring for the forms).

    Raises ValueError with a one-line message naming the spec and what is wrong.
    """
    kind, sep, arg = spec.strip().lower().partition(":")
    kind = kind.strip()
    if not sep or not arg.strip():
        raise ValueError(f"bad fault spec {spec!r}: expected KIND:ARGS, one of {_FORMS}")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ValueError(f"bad fault spec {spec!r}: unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    try:
        return parser(kind, arg.strip())
    except ValueError as exc:
        raise ValueError(f"bad fault spec {spec!r}: {exc}") from None


def parse_faults(specs: Iterable[str]) -> list[FaultSpec]:
    """Parse several specs; raises ValueError if a kind appears twice."""
    faults = [parse_fault(s) for s in specs]
    _check_unique(faults)
    return faults


def _parse_probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"probability {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"probability must be in (0, 1], got {text!r}")
    return value


def _parse_latency(kind: str, arg: str) -> FaultSpec:
    parts = re.split(r"±|\+-", arg)
    if len(parts) > 2:
        raise ValueError("expected latency:DELAY or latency:DELAY±JITTER")
    delay = parse_duration(parts[0])
    jitter = parse_duration(parts[1]) if len(parts) == 2 else 0.0
    if delay > MAX_LATENCY_S:
        raise ValueError(f"delay must be at most {MAX_LATENCY_S:g}s")
    if jitter > delay:
        raise ValueError("jitter must not exceed the delay")
    if delay == 0:
        raise ValueError("delay must be positive")
    return FaultSpec(kind, delay_s=delay, jitter_s=jitter)


def _parse_chance(kind: str, arg: str) -> FaultSpec:
    return FaultSpec(kind, probability=_parse_probability(arg))


def _parse_stall(kind: str, arg: str) -> FaultSpec:
    prob_text, comma, option = arg.partition(",")
    hold = DEFAULT_STALL_HOLD_S
    if comma:
        name, eq, value = option.strip().partition("=")
        if name.strip() != "hold" or not eq:
            raise ValueError(f"unknown stall option {option.strip()!r} (expected hold=DURATION)")
        hold = parse_duration(value)
    if not 0.0 < hold <= MAX_STALL_HOLD_S:
        raise ValueError(f"hold must be in (0, {MAX_STALL_HOLD_S:g}s]")
    return FaultSpec(kind, probability=_parse_probability(prob_text.strip()), hold_s=hold)


def _parse_crash(kind: str, arg: str) -> FaultSpec:
    name, eq, value = arg.partition("=")
    if name.strip() != "every" or not eq:
        raise ValueError("expected crash:every=DURATION")
    interval = parse_duration(value)
    if interval <= 0:
        raise ValueError("interval must be positive")
    return FaultSpec(kind, interval_s=interval)


_PARSERS: dict[str, Callable[[str, str], FaultSpec]] = {
    LATENCY: _parse_latency,
    LOST_ACK: _parse_chance,
    RESET: _parse_chance,
    STALL: _parse_stall,
    CRASH: _parse_crash,
}


def _check_unique(faults: Iterable[FaultSpec]) -> None:
    seen: set[str] = set()
    for fault in faults:
        if fault.kind in seen:
            raise ValueError(f"fault kind {fault.kind!r} given more than once")
        seen.add(fault.kind)


def fault_event(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    """The history event for one ``on_fault(kind, info)`` call (append it with HistoryWriter)."""
    value = {"kind": kind, **{k: v for k, v in info.items() if k != "time"}}
    return {"type": INFO, "process": NEMESIS, "f": "fault", "value": value, "time": info["time"]}


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


# --------------------------------------------------------------------------- HTTP/1.1 framing


class _BadMessage(Exception):
    """Malformed HTTP framing from the client or the upstream."""


@dataclass(slots=True)
class _Head:
    raw: bytes
    start: list[bytes]
    headers: dict[bytes, bytes]


def _parse_head(raw: bytes) -> _Head:
    lines = raw.lstrip(b"\r\n").split(b"\r\n")
    start = lines[0].split(b" ", 2)
    if len(start) < 2:
        raise _BadMessage(f"bad start line {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise _BadMessage(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = headers[key] + b", " + value if key in headers else value
    return _Head(raw, start, headers)


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    value = headers.get(b"content-length")
    if value is None:
        return None
    values = {v.strip() for v in value.split(b",")}
    if len(values) != 1:
        raise _BadMessage("conflicting Content-Length headers")
    text = values.pop()
    if not text.isdigit():
        raise _BadMessage(f"bad Content-Length {text[:40]!r}")
    return int(text)


def _is_chunked(headers: dict[bytes, bytes]) -> bool:
    value = headers.get(b"transfer-encoding")
    return value is not None and value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"


def _keep_alive(version: bytes, headers: dict[bytes, bytes]) -> bool:
    tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
    if b"close" in tokens:
        return False
    return version != b"HTTP/1.0" or b"keep-alive" in tokens


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The next message head, or None on a clean EOF before any byte of it."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip(b"\r\n"):
            raise _BadMessage("connection closed in the middle of a message head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadMessage("message head too large") from None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, returned raw (chunk framing and trailers included)."""
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadMessage(f"bad chunk size line {line[:40]!r}") from None
        if size < 0:
            raise _BadMessage("negative chunk size")
        if size == 0:
            break
        parts.append(await reader.readexactly(size + 2))
    while True:
        line = await reader.readuntil(b"\r\n")
        parts.append(line)
        if line == b"\r\n":
            return b"".join(parts)


async def _read_request_body(reader: asyncio.StreamReader, head: _Head) -> bytes:
    if _is_chunked(head.headers):
        return await _read_chunked(reader)
    length = _content_length(head.headers)
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
        head = _parse_head(raw)
        try:
            status = int(head.start[1])
        except ValueError:
            raise _BadMessage(f"bad status line {head.start!r}") from None
        if 100 <= status < 200 and status != 101:
            interim.append(raw)
            continue
        break
    keep_alive = _keep_alive(head.start[0], head.headers)
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif _is_chunked(head.headers):
        body = await _read_chunked(reader)
    elif (length := _content_length(head.headers)) is not None:
        body = await reader.readexactly(length) if length else b""
    else:
        body = await reader.read()  # delimited by the upstream closing the connection
        keep_alive = False
    return _Response(b"".join(interim) + raw + body, status, keep_alive)


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
    head: _Head
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

        ``faults`` may include ``crash`` specs, which the proxy ignores (``harness.run.CrashLoop``
        executes them). ``report_latency`` also reports every delayed request to
        ``on_fault`` (off by default: it would add one history event per request).
        ``upstream_timeout`` bounds the wait for an upstream response.
        Raises ValueError for a non-loopback host/upstream or a kind given twice.
        """
        self.upstream_host, self.upstream_port = _parse_upstream(upstream_url)
        self.host = loopback_host(host)
        self._port = port
        self.faults = [f for f in faults if f.kind != CRASH]
        _check_unique(self.faults)
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
        except _BadMessage as exc:
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
        head = _parse_head(raw)
        if len(head.start) != 3 or not head.start[2].startswith(b"HTTP/1."):
            raise _BadMessage(f"not an HTTP/1.x request line: {head.start!r}")
        if head.headers.get(b"expect", b"").lower() == b"100-continue":
            conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the upstream's own 100 is passed on too
        body = await _read_request_body(conn.reader, head)
        conn.requests += 1
        self.counts["requests"] += 1
        req = _Request(conn, next(self._seq), head, body)
        client_keep_alive = _keep_alive(head.start[2], head.headers)
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
        except (OSError, TimeoutError, asyncio.IncompleteReadError, _BadMessage) as exc:
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
