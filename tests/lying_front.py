"""A seeded server bug for tests: a loopback HTTP front to a real DynamoDB Local that lies about writes it applied.

Every request goes through to the real server unchanged. When a conditional ``PutItem`` or ``UpdateItem`` that
asked for ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` is applied (the server answered 200) on its first
attempt, every ``every``-th such write is answered with ``ConditionalCheckFailedException`` instead, carrying
the item as it now is as ALL_OLD — the caller's own write. A correct server cannot do that; the checkers must
say so. A request whose body the front has seen before (an SDK retry, a client's resend) is never lied about:
the lie is only ever on a first attempt, where the caller cannot have written the item itself.

It runs in a thread of the test process with its own event loop, listening on 127.0.0.1 only::

    with LyingFront(local_endpoint.url, every=3) as front:
        run_stress("run", "--backend", "endpoint", "--endpoint-url", front.url, ...)
    assert front.lies > 0  # front.lied: the items it lied about
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import zlib
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

CONDITIONAL_FAILED_TYPE = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
LIED_ABOUT = ("PutItem", "UpdateItem")
# Headers that belong to one hop (or that aiohttp sets itself from the body it sends).
HOP_HEADERS = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "date",
                         "server"})
START_TIMEOUT_S = 30.0


class LyingFront:
    """A front to ``upstream`` (an http://127.0.0.1 URL) that answers every ``every``-th applied conditional
    first attempt with a ConditionalCheckFailed whose ALL_OLD item is the caller's own write."""

    def __init__(self, upstream: str, every: int = 3) -> None:
        if not upstream.startswith(("http://127.", "http://localhost")):
            raise ValueError(f"the lying front only talks to loopback: {upstream!r}")
        self.upstream = upstream.rstrip("/") + "/"
        self.every = every
        self.url = ""
        self.lies = 0  # writes applied and answered as refused
        self.lied: list[dict[str, Any]] = []  # the ALL_OLD item (typed JSON) of every lie, in order
        self.applied = 0  # applied conditional first attempts seen (lied about or not)
        self._seen: set[bytes] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lying-front", daemon=True)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> LyingFront:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(START_TIMEOUT_S)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(START_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
            self._loop.close()

    async def _serve(self) -> str:
        # auto_decompress=False: the body is passed on byte for byte, so its x-amz-crc32 still matches.
        self._session = aiohttp.ClientSession(auto_decompress=False, connector=aiohttp.TCPConnector(limit=256))
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        assert self._session is not None
        async with self._session.request(request.method, self.upstream, data=body, headers=headers) as upstream:
            answer = await upstream.read()
            status = upstream.status
            answer_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        lie = self._lie(request.headers.get("X-Amz-Target", ""), body, status, answer)
        if lie is None:
            return web.Response(status=status, body=answer, headers=answer_headers)
        return web.Response(status=400, body=lie, headers={
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": answer_headers.get("x-amzn-RequestId", "lying-front"),
            # botocore checks the body against this header: a lie must be well-formed to be believed.
            "x-amz-crc32": str(zlib.crc32(lie))})

    def _lie(self, target: str, body: bytes, status: int, answer: bytes) -> bytes | None:
        """The refusal to send instead of ``answer``, or None to pass the true answer on."""
        operation = target.rpartition(".")[2]
        if operation not in LIED_ABOUT:
            return None
        request = _json(body)
        if "ConditionExpression" not in request or request.get("ReturnValuesOnConditionCheckFailure") != "ALL_OLD":
            return None
        digest = hashlib.sha256(body).digest()
        first_attempt = digest not in self._seen
        self._seen.add(digest)
        if status != 200 or not first_attempt:
            return None
        self.applied += 1
        if self.applied % self.every:
            return None
        if operation == "PutItem":
            item = request.get("Item", {})
        else:  # the key plus what the update returned (the workloads ask for the updated attributes)
            item = {**request.get("Key", {}), **_json(answer).get("Attributes", {})}
        self.lies += 1
        self.lied.append(item)
        return json.dumps({"__type": CONDITIONAL_FAILED_TYPE, "message": "The conditional request failed",
                           "Item": item}).encode()


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
