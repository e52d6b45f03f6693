"""A DynamoDB with a seeded check-then-write bug: the negative control of detection power (issue 11).

A loopback front to DynamoDB Local. Every request is forwarded unchanged, so the server answers it
atomically, except that one conditional write in ``one_in`` is done the broken way: its condition is
checked on its own (a ``TransactWriteItems`` holding just a ``ConditionCheck``), then, if it held, the
fake waits ``window_ms`` and sends the write *without* its condition. A conditional write by anybody
else on that key inside the window also passes its check, and both are acknowledged: a double winner,
a lost update. When the separate check fails, the original request is forwarded, so the client gets
the server's own ConditionalCheckFailed with ALL_OLD.

That is the shape of moto's bug (no lock between check and write), with a window that does not
depend on the CPU: how often a run can catch it is then a property of the run, not of the machine.

Run it beside a DynamoDB Local::

    python -m tests.window_fake --upstream http://127.0.0.1:8000 --one-in 1000 --window-ms 2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import threading
from typing import Any

import aiohttp
import orjson
from aiohttp import web

TARGET_PREFIX = "DynamoDB_20120810."
CONDITIONAL_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
PASSED_HEADERS = ("Content-Type", "x-amz-crc32", "x-amzn-RequestId")
EXPRESSIONS = ("UpdateExpression", "ProjectionExpression", "KeyConditionExpression", "FilterExpression")
_TOKEN = re.compile(r"[#:][A-Za-z0-9_]+")


class WindowFake:
    """The fake on 127.0.0.1: ``url`` once started; ``windows`` counts the broken writes it performed."""

    def __init__(self, upstream: str, *, one_in: int, window_ms: float, seed: int = 1, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.one_in, self.window_s, self.port = one_in, window_ms / 1000, port
        self.random = random.Random(seed)
        self.windows = 0  # broken writes whose separate check held (the write went out unconditioned)
        self.checks = 0  # conditional writes that went the broken way
        self.requests = 0
        self._keys: dict[str, list[str]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port unless one was given); returns the URL."""
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                              timeout=aiohttp.ClientTimeout(total=120))
        app = web.Application(client_max_size=32 << 20)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=2048)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening and close the upstream connections."""
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        action = headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        if action in CONDITIONAL_WRITES and self.random.randrange(self.one_in) == 0:
            params = orjson.loads(body)
            if params.get("ConditionExpression"):
                return await self._broken_write(action, params, headers)
        return await self._forward(headers, body)

    async def _broken_write(self, action: str, params: dict[str, Any], headers: dict[str, str]) -> web.Response:
        """Check the condition alone; if it held, wait out the window and write without it."""
        self.checks += 1
        check = {"TransactItems": [{"ConditionCheck": {
            "TableName": params["TableName"], "Key": await self._key(params, headers),
            **_used({"ConditionExpression": params["ConditionExpression"]}, params)}}]}
        status, _, _ = await self._send(dict(headers, **{"X-Amz-Target": TARGET_PREFIX + "TransactWriteItems"}),
                                        orjson.dumps(check))
        if status != 200:  # the condition did not hold: the server's own answer, ALL_OLD included
            return await self._forward(headers, orjson.dumps(params))
        self.windows += 1
        await asyncio.sleep(self.window_s)
        write = {k: v for k, v in params.items()
                 if k not in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues")}
        write.update(_used({k: params[k] for k in EXPRESSIONS if k in params}, params))
        return await self._forward(headers, orjson.dumps(write))

    async def _key(self, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if "Key" in params:
            return params["Key"]
        table = params["TableName"]
        if table not in self._keys:
            describe = dict(headers, **{"X-Amz-Target": TARGET_PREFIX + "DescribeTable"})
            _, _, answer = await self._send(describe, orjson.dumps({"TableName": table}))
            self._keys[table] = [k["AttributeName"] for k in orjson.loads(answer)["Table"]["KeySchema"]]
        return {name: params["Item"][name] for name in self._keys[table]}

    async def _forward(self, headers: dict[str, str], body: bytes) -> web.Response:
        status, answer_headers, answer = await self._send(headers, body)
        return web.Response(status=status, body=answer, headers=answer_headers)

    async def _send(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        async with self._session.post(self.upstream + "/", data=body, headers=headers) as response:
            answer = await response.read()
            kept = {k: response.headers[k] for k in PASSED_HEADERS if k in response.headers}
            return response.status, kept, answer


def _used(expressions: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """``expressions`` plus the attribute names and values they use (DynamoDB refuses unused ones)."""
    tokens = {t for text in expressions.values() for t in _TOKEN.findall(text)}
    out: dict[str, Any] = dict(expressions)
    names = {k: v for k, v in (params.get("ExpressionAttributeNames") or {}).items() if k in tokens}
    values = {k: v for k, v in (params.get("ExpressionAttributeValues") or {}).items() if k in tokens}
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = values
    return out


class WindowFakeThread:
    """The fake on its own event loop in a thread (for a pytest fixture): ``with WindowFakeThread(...) as fake``."""

    def __init__(self, upstream: str, **kwargs: Any) -> None:
        self.fake = WindowFake(upstream, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="window-fake", daemon=True)

    def __enter__(self) -> WindowFake:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--one-in", type=int, default=1000)
    parser.add_argument("--window-ms", type=float, default=2.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    async def serve() -> None:
        fake = WindowFake(args.upstream, one_in=args.one_in, window_ms=args.window_ms, seed=args.seed, port=args.port)
        print(await fake.start(), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
