"""The prepared client: requests serialised and signed before the starting gun, sent on raw sockets.

The SDK path (``harness.clients.sdk.DynamoClient``) spends 1.3–2 ms of client CPU per call inside
aioboto3, so 200 workers leave the client as a trickle and the harness — not the server — sets the
latencies. This client moves all of that before the gun:

* ``prepare`` (before the gun) serialises the call with orjson (the same JSON document botocore's
  serializer produces; binary attributes and other non-JSON types go through botocore's serializer)
  and signs it with ``harness.clients.sigv4.Signer`` (a cut-down SigV4 for this one request shape, tested byte
  for byte against botocore's ``SigV4Auth``, caching what is the same for every request: the derived
  key, Host, canonical path), then frames the raw HTTP/1.1 bytes. A SigV4 signature stays valid for
  5 minutes (DynamoDB accepts 15 minutes of clock skew), so preparing just before the gun is safe.
* ``submit`` (after the gun) queues the bytes on an idle keep-alive connection of a pool opened in
  ``__aenter__`` (connections the server closes while idle — Jetty does after 30 s — are replaced in
  the background, and ``warm()`` refills the pool on demand); all sends queued in one event-loop
  iteration are written back to back by a single callback, so a 200-way race leaves the client in
  about 2 ms on an idle machine (CPU contention on a small machine stretches it). The response is
  only framed (status line, ``Content-Length`` or chunked body, ``x-amz-crc32``) when bytes arrive;
  JSON parsing and classification happen once the response is complete (``Exchange``), with the same
  rules as the SDK client (``classify_client_error``), and the outcome goes to the caller's callback.

Differences from the SDK path, on purpose:

* exactly one attempt per request: ``--retries`` needs ``--client sdk`` (the constructor raises
  ``ValueError`` when ``retries > 0``);
* parameters are not validated client-side (botocore's ``ParamValidationError`` is an ``info`` in the
  SDK path); a malformed request reaches the server and comes back as a definite ``fail``
  (``ValidationException`` / ``SerializationException``);
* a request is written at most once; it is re-sent on a fresh connection only when its connection
  died before a single byte of it was written (it never left the client);
* connection errors and timeouts keep the exception's own name (``ConnectionRefusedError``,
  ``TimeoutError``) where the SDK says ``EndpointConnectionError`` / ``ReadTimeoutError``; both are
  ``info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.exceptions
import botocore.serialize
import botocore.utils
import orjson

from harness.backends.endpoint import Endpoint
from harness.clients.http1 import BadMessage, content_length, is_chunked, keep_alive, parse_head
from harness.clients.items import plain_item
from harness.clients.outcome import Outcome, Request, classify_client_error
from harness.clients.sdk import DynamoClient
from harness.clients.sigv4 import Credentials, Signer

log = logging.getLogger(__name__)

SERVICE = "dynamodb"
# Connections are opened CONNECT_BATCH at a time with a short pause between batches: opened back to back,
# the ~180th connection to a freshly started DynamoDB Local stalled for a 1 s SYN retransmit (its Jetty had
# not accepted the others yet); with the pause 200 connections open in ~0.05 s.
CONNECT_BATCH = 16
CONNECT_PAUSE_S = 0.002
REFILL_INTERVAL_S = 1.0  # at most one background refill of server-closed connections per second
TARGET_PREFIX = "DynamoDB_20120810."


# --------------------------------------------------------------------------- wire


@dataclass
class Prepared:
    """A request ready to leave: the complete HTTP/1.1 bytes."""

    wire: bytes
    operation: str


@dataclass
class Response:
    """One framed HTTP response (the body is parsed later, by ``send``)."""

    status: int
    body: bytes
    crc32: int | None


def _parse_head(raw: bytes) -> tuple[int, int | None, bool, int | None, bool]:
    """Status, Content-Length, chunked?, x-amz-crc32, keep-alive? of a response head."""
    head = parse_head(raw)
    if not head.start[0].startswith(b"HTTP/1."):
        raise BadMessage(f"not an HTTP response: {head.start[0][:40]!r}")
    try:
        status = int(head.start[1])
        crc = head.headers.get(b"x-amz-crc32")
        crc_value = None if crc is None else int(crc)
    except ValueError:
        raise BadMessage(f"bad status line or checksum in {raw[:80]!r}") from None
    return (status, content_length(head.headers), is_chunked(head.headers), crc_value,
            keep_alive(head.start[0], head.headers))


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A complete chunked body starting at ``start``: (body, end offset), or None if incomplete."""
    parts: list[bytes] = []
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            return (b"".join(parts), end + 4) if end >= 0 else None
        chunk_start = eol + 2
        if len(buf) < chunk_start + size + 2:
            return None
        parts.append(bytes(buf[chunk_start:chunk_start + size]))
        pos = chunk_start + size + 2


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, on_lost: Callable[[Connection], None] | None = None) -> None:
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True
        self.sent = False  # written and counted in flight, response not yet consumed
        self.written = False  # the current request was handed to the socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.abort()  # bytes nobody asked for: this connection is out of step
            return
        try:
            response = self._frame()
        except (BadMessage, ValueError) as exc:
            _settle(waiter, exception=BadMessage(str(exc)))
            self.abort()
            return
        if response is not None:
            self.waiter = None
            _settle(waiter, response)

    def _frame(self) -> Response | None:
        """The complete response at the head of the buffer, removing its bytes, or None."""
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        status, length, chunked, crc, reusable = _parse_head(bytes(self.buf[:head_end + 4]))
        start = head_end + 4
        if length is None and not chunked and (status in (204, 304) or status < 200):
            length = 0
        if chunked:
            found = _dechunk(self.buf, start)
            if found is None:
                return None
            body, end = found
        else:
            if length is None:
                raise BadMessage("response without Content-Length or chunked encoding")
            end = start + length
            if len(self.buf) < end:
                return None
            body = bytes(self.buf[start:end])
        del self.buf[:end]
        self.keep_alive = reusable
        return Response(status, body, crc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            _settle(waiter, exception=exc or ConnectionResetError("connection closed before the response"))
        elif self.on_lost is not None:
            self.on_lost(self)  # an idle connection the server closed (Jetty: after 30 s idle)

    def usable(self) -> bool:
        """Open, idle and in step with the server."""
        return (not self.closed and self.keep_alive and not self.buf and self.transport is not None
                and not self.transport.is_closing())

    def abort(self) -> None:
        """Drop the connection at once (its next bytes could belong to an abandoned request)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


@dataclass
class WireStats:
    """What left the client: socket writes, their time span, and requests in flight."""

    writes: int = 0
    first_write_ns: int | None = None
    last_write_ns: int | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    flushes: int = 0
    biggest_flush: int = 0
    reconnects: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def span_ms(self) -> float | None:
        """Time from the first to the last socket write, in ms."""
        if self.first_write_ns is None or self.last_write_ns is None:
            return None
        return (self.last_write_ns - self.first_write_ns) / 1e6


class ConnectionPool:
    """Keep-alive connections to one endpoint, opened ahead of time and reused."""

    def __init__(self, url: str, size: int, timeout_s: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.size = size
        self.timeout_s = timeout_s
        self.idle: list[Connection] = []
        self.closing = False
        self._refill: asyncio.Task[int] | None = None
        self._last_refill = 0.0
        # Connections that could not be opened, by error: one warning at close, not one per race (a crashed
        # server's restart printed 36 copies of the same line).
        self.failed_opens: Counter[str] = Counter()

    async def fill(self) -> int:
        """Open connections until ``size`` are idle; returns how many are; failures are only logged."""
        missing = self.size - len(self._prune())
        for start in range(0, max(missing, 0), CONNECT_BATCH):
            if start:
                await asyncio.sleep(CONNECT_PAUSE_S)
            batch = min(CONNECT_BATCH, missing - start)
            results = await asyncio.gather(*(self.open() for _ in range(batch)), return_exceptions=True)
            opened = [conn for conn in results if isinstance(conn, Connection)]
            self.idle.extend(opened)
            if len(opened) < batch:
                self.failed_opens.update(type(r).__name__ for r in results if not isinstance(r, Connection))
                break
        return len(self.idle)

    async def open(self) -> Connection:
        """A new connection (raises OSError / TimeoutError when the endpoint cannot be reached)."""
        loop = asyncio.get_running_loop()
        tls = ssl.create_default_context() if self.tls else None
        connect = loop.create_connection(lambda: Connection(self._lost), self.host, self.port, ssl=tls,
                                         server_hostname=self.host if tls else None)
        _, conn = await asyncio.wait_for(connect, self.timeout_s)
        return conn

    def take(self) -> Connection | None:
        """An idle usable connection, or None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
        return None

    def give_back(self, conn: Connection) -> None:
        """Return a connection after a complete response; broken ones are closed instead."""
        if conn.usable():
            self.idle.append(conn)
        else:
            conn.abort()

    def _lost(self, conn: Connection) -> None:
        """An idle connection was closed by the server: open a replacement in the background, so the
        next race does not have to connect (at most one refill per second)."""
        if self.closing or (self._refill is not None and not self._refill.done()):
            return
        delay = max(0.05, REFILL_INTERVAL_S - (time.monotonic() - self._last_refill))
        self._refill = asyncio.get_running_loop().create_task(self._refill_later(delay))

    async def _refill_later(self, delay: float) -> int:
        await asyncio.sleep(delay)
        self._last_refill = time.monotonic()
        return 0 if self.closing else await self.fill()

    def _prune(self) -> list[Connection]:
        self.idle = [conn for conn in self.idle if conn.usable()]
        return self.idle

    def close(self) -> None:
        """Close every idle connection (and stop refilling); warn once about connections that failed to open."""
        if self.failed_opens and not self.closing:
            errors = ", ".join(f"{name} ×{n}" for name, n in self.failed_opens.most_common())
            log.warning("%d connections to %s:%d could not be opened during the run (%s); the races went on with "
                        "fewer", self.failed_opens.total(), self.host, self.port, errors)
        self.closing = True
        if self._refill is not None:
            self._refill.cancel()
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle = []


# --------------------------------------------------------------------------- the client


class PreparedClient(DynamoClient):
    """DynamoClient whose ``prepare`` serialises and signs, and whose ``submit`` (``send``, awaited) writes
    raw bytes.

    ``self.raw`` (aioboto3) stays available for setup and final reads.
    """

    def __init__(self, endpoint: Endpoint, *, pool: int, retries: int = 0, timeout_s: float = 10.0) -> None:
        if retries:
            raise ValueError(f"--client prepared sends every request exactly once; --retries {retries} "
                             "needs --client sdk")
        super().__init__(endpoint, pool=pool, retries=0, timeout_s=timeout_s)
        self.pool_size = max(pool, 1)
        self.stats = WireStats()
        self._pool: ConnectionPool | None = None
        self._signer: Signer | None = None
        self._serializer = botocore.serialize.create_serializer("json", include_validation=False)
        self._operations: dict[str, Any] = {}
        self._url = ""
        self._path = self._canonical_path = "/"
        self._fixed_headers = ""
        self._pending: list[tuple[Connection, bytes]] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> PreparedClient:
        await super().__aenter__()
        self._loop = asyncio.get_running_loop()
        self._url = self.endpoint.url or self.raw.meta.endpoint_url
        parts = urlsplit(self._url)
        self._path = quote((parts.path.rstrip("/") or "") + "/", safe="/~%")
        self._canonical_path = quote(botocore.utils.normalize_url_path(self._path), safe="/~%")
        host = botocore.auth._host_from_url(self._url)
        self._signer = Signer(await self._credentials(), self.endpoint.region, host)
        user_agent = self._user_agent()
        self._fixed_headers = f"Host: {host}\r\nUser-Agent: {user_agent}\r\nAccept-Encoding: identity\r\n"
        self._pool = ConnectionPool(self._url, self.pool_size, self.timeout_s)
        await self._pool.fill()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()
        await super().__aexit__(*exc)

    async def _credentials(self) -> Credentials:
        """The endpoint's fixed credentials, or the default chain's (frozen) for AWS."""
        creds = self.endpoint.credentials
        if creds:
            return Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"],
                               creds.get("aws_session_token"))
        found = self._session.get_credentials()
        if inspect.isawaitable(found):
            found = await found
        if found is None:
            raise botocore.exceptions.NoCredentialsError()
        frozen = found.get_frozen_credentials()
        return await frozen if inspect.isawaitable(frozen) else frozen

    def _user_agent(self) -> str:
        creator = getattr(self.raw, "_user_agent_creator", None)
        base = creator.to_string() if creator is not None else "botocore"
        return f"{base} ddb-stress/prepared"

    async def warm(self) -> int:
        """Re-open connections the server closed while idle (call before a race); returns the idle count."""
        assert self._pool is not None, "use `async with PreparedClient(...)`"
        return await self._pool.fill()

    # ------------------------------------------------------------------ before the gun

    def prepare(self, request: Request) -> Prepared | Outcome:
        """Serialise and sign ``request`` into HTTP/1.1 bytes; a request that cannot be built becomes
        the ``info`` outcome ``send`` will return (as the SDK path reports a client-side error)."""
        try:
            return self._build(request)
        except Exception as exc:  # serialisation of bad params: report it like the SDK, never crash the race
            return Outcome("info", error=type(exc).__name__)

    def _build(self, request: Request) -> Prepared:
        assert self._signer is not None, "use `async with PreparedClient(...)`"
        model = self._operation(request.operation)
        body = self.serialize(request.params, model)
        headers = self._signer.headers(TARGET_PREFIX + model.name, body, self._canonical_path)
        start = (f"POST {self._path} HTTP/1.1\r\n{self._fixed_headers}{headers}"
                 f"Content-Length: {len(body)}\r\n\r\n")
        return Prepared(start.encode() + body, model.name)

    def serialize(self, params: dict[str, Any], model: Any) -> bytes:
        """The JSON body of one call. For parameters made only of JSON types (every built-in workload's)
        botocore's serializer writes them unchanged, so orjson writes them directly; anything else —
        bytes, ``Decimal``, and binary attributes (``B``/``BS``, which botocore base64-encodes) — goes
        through botocore's serializer."""
        try:
            body = orjson.dumps(params)
        except TypeError:
            body = b""
        if not body or b'"B":' in body or b'"BS":' in body:
            raw = self._serializer.serialize_to_request(params, model)["body"]
            body = raw.encode() if isinstance(raw, str) else raw
        return body

    def _operation(self, method: str) -> Any:
        """The botocore operation model for a client method name such as ``put_item``."""
        model = self._operations.get(method)
        if model is None:
            name = self.raw.meta.method_to_api_mapping[method]
            model = self._operations[method] = self.raw.meta.service_model.operation_model(name)
        return model

    # ------------------------------------------------------------------ after the gun

    async def call(self, request: Request) -> Outcome:
        """Prepare and send at once (one attempt, like every prepared request)."""
        return await self.send(request, self.prepare(request))

    async def send(self, request: Request, prepared: Any = None) -> Outcome:
        """Write the prepared bytes on an idle connection and classify the response (one attempt): ``submit``,
        awaited. Cancelling it drops the request's connection (its next bytes would be out of step)."""
        loop = self._loop or asyncio.get_running_loop()
        answer: asyncio.Future[Outcome] = loop.create_future()
        exchange = self.submit(request, prepared, lambda outcome: _settle(answer, outcome))
        try:
            return await answer
        except asyncio.CancelledError:
            exchange.cancel()
            raise

    def submit(self, request: Request, prepared: Any, done: Callable[[Outcome], None]) -> Exchange:
        """Send without waiting: ``done(outcome)`` is called once, from the event loop and never before
        ``submit`` returns, unless the returned exchange is cancelled first.

        A race sends its requests this way, with no task per worker: an awaited ``send`` costs a task, a
        future and a coroutine frame per op. Without them the client's CPU per op against DynamoDB Local
        fell from 147-156 to 127-136 µs at 16-200 workers (medians of 5 interleaved points, 2026-12-03).

        A request whose connection died before a single byte of it was written never left the client: it
        goes out once more on a fresh connection. Anything that fails after the write is ``info``.
        """
        if prepared is None:
            prepared = self.prepare(request)
        exchange = Exchange(self, request.token, done)
        if isinstance(prepared, Outcome):
            (self._loop or asyncio.get_running_loop()).call_soon(exchange.finish, prepared)
        else:
            exchange.start(prepared.wire)
        return exchange

    def _queue(self, conn: Connection, wire: bytes) -> None:
        """Have ``wire`` written on ``conn`` by this loop iteration's flush."""
        self._pending.append((conn, wire))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write every request queued in this loop iteration, back to back."""
        pending, self._pending = self._pending, []
        self._flush_scheduled = False
        stats = self.stats
        first = time.monotonic_ns()
        written = 0
        for conn, wire in pending:
            waiter = conn.waiter
            if waiter is None or waiter.done() or conn.closed:
                continue
            conn.transport.write(wire)  # type: ignore[union-attr]
            conn.sent = conn.written = True
            written += 1
        if not written:
            return
        last = time.monotonic_ns()
        stats.writes += written
        stats.flushes += 1
        stats.biggest_flush = max(stats.biggest_flush, written)
        if stats.first_write_ns is None:
            stats.first_write_ns = first
        stats.last_write_ns = last
        stats.in_flight += written
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

    def reset_stats(self) -> WireStats:
        """Start a new measurement window; returns the finished one."""
        done, self.stats = self.stats, WireStats(in_flight=self.stats.in_flight)
        return done


class Exchange:
    """One request of ``PreparedClient.submit``: a connection, the bytes written on it once, and the outcome
    handed to ``done``. It stands where a connection expects its response's future (``done``,
    ``set_result``, ``set_exception``), so ``Connection`` frames responses for both paths alike."""

    __slots__ = ("client", "conn", "finished", "on_done", "opening", "retried", "timer", "token", "wire")

    def __init__(self, client: PreparedClient, token: tuple[str, Any] | None, done: Callable[[Outcome], None]) -> None:
        self.client = client
        self.token = token
        self.on_done = done
        self.conn: Connection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.opening: asyncio.Task[Connection] | None = None
        self.wire = b""
        self.retried = False
        self.finished = False

    def start(self, wire: bytes) -> None:
        """Queue ``wire`` on an idle connection, or on a new one when none is idle."""
        self.wire = wire
        pool = self.client._pool
        assert pool is not None and self.client._loop is not None, "use `async with PreparedClient(...)`"
        conn = pool.take()
        if conn is not None:
            self._write_on(conn)
            return
        self.client.stats.reconnects += 1
        self.opening = self.client._loop.create_task(pool.open())
        self.opening.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[Connection]) -> None:
        self.opening = None
        if self.finished or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.finish(Outcome("info", error=type(exc).__name__))
        else:
            self._write_on(task.result())

    def _write_on(self, conn: Connection) -> None:
        self.conn = conn
        conn.waiter = self  # type: ignore[assignment]
        conn.written = False
        self.client._queue(conn, self.wire)
        assert self.client._loop is not None
        self.timer = self.client._loop.call_later(self.client.timeout_s, self.set_exception, TimeoutError())

    # ----- what the connection calls, as on a future

    def done(self) -> bool:
        return self.finished

    def set_result(self, response: Response) -> None:
        if self.finished:
            return
        conn = self._release()
        assert conn is not None and self.client._pool is not None
        self.client._pool.give_back(conn)
        self.finish(outcome_of(response, self.token))

    def set_exception(self, exc: BaseException) -> None:
        if self.finished:
            return
        conn = self._release()
        written = conn is not None and conn.written
        if conn is not None:
            conn.abort()
        if not written and not self.retried and not isinstance(exc, TimeoutError):
            self.retried = True  # it never left the client: once more, on a fresh connection
            self.start(self.wire)
            return
        self.finish(Outcome("info", error=type(exc).__name__))

    # -----

    def finish(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to ``done`` (once)."""
        if not self.finished:
            self.finished = True
            self.on_done(outcome)

    def cancel(self) -> None:
        """Give the request up: ``done`` is not called; its connection, if it has one, is dropped."""
        if self.finished:
            return
        self.finished = True
        if self.opening is not None:
            self.opening.cancel()
        conn = self._release()
        if conn is not None:
            conn.abort()

    def _release(self) -> Connection | None:
        """Stop the timer and count the request out of flight; returns its connection (detached)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        conn, self.conn = self.conn, None
        if conn is not None:
            if conn.waiter is self:  # type: ignore[comparison-overlap]
                conn.waiter = None
            if conn.sent:
                conn.sent = False
                self.client.stats.in_flight -= 1
        return conn


def _settle(waiter: asyncio.Future[Any] | Exchange, response: Any = None, *,
            exception: BaseException | None = None) -> None:
    """Resolve a request's future (or its exchange) unless it is already done. Checking ``done()`` first is
    not enough: Ctrl-C runs asyncio.Runner's SIGINT handler between two bytecodes, and its cancellation
    reaches a future synchronously (seen in CI: ``InvalidStateError`` in ``data_received`` on an interrupted run)."""
    with contextlib.suppress(asyncio.InvalidStateError):
        if exception is not None:
            waiter.set_exception(exception)
        else:
            waiter.set_result(response)


def error_code(data: dict[str, Any], status: int) -> str:
    """The AWS error code of a JSON 1.0 error body: ``__type`` without its ``com.amazon…#`` prefix."""
    kind = data.get("__type") or data.get("code") or ""
    code = kind.rpartition("#")[2] if kind else ""
    return code or str(status)


def outcome_of(response: Response, token: tuple[str, Any] | None) -> Outcome:
    """Classify a framed response with the SDK client's rules (``classify_client_error``)."""
    if response.crc32 is not None and zlib.crc32(response.body) != response.crc32:
        return Outcome("info", error="ChecksumError")
    try:
        data = orjson.loads(response.body) if response.body else {}
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if 200 <= response.status < 300:
        return Outcome("ok", item=plain_item(data.get("Attributes") or data.get("Item")))
    error = {"Code": error_code(data, response.status), "Message": data.get("message") or data.get("Message", "")}
    shaped = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": response.status},
              "Item": data.get("Item"), "CancellationReasons": data.get("CancellationReasons", [])}
    return classify_client_error(shaped, 1, token)
