"""What a probe is given: one backend's DynamoDB client, calls that never raise, and tables of its own."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from harness.backends.aws import table_tags
from harness.backends.endpoint import Endpoint
from harness.clients.sdk import DynamoClient
from harness.engine.runner import create_table, delete_table, table_name

# Enough connections that 200 concurrent calls (the counter probe) are all on the wire at once.
POOL = 256
CALL_TIMEOUT_S = 10.0
KEY = "pk"

_sent_at: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("sent_at", default=None)


def _stamp_send(**_: Any) -> None:
    """before-send: when the request really leaves (after serialising and signing), per calling task."""
    stamp = _sent_at.get()
    if stamp is not None:
        stamp[0] = time.monotonic_ns()


@dataclass
class Reply:
    """One call's answer: the parsed response, or the error code and the parsed error response.

    ``invoke_ns`` is when the request left (the SDK's before-send event), ``complete_ns`` when its answer
    was parsed, both ``time.monotonic_ns()``: the interval in which the server can have handled it.
    """

    code: str | None  # None on success; the error code, or the exception's name when nothing came back
    data: dict[str, Any] = field(default_factory=dict)
    invoke_ns: int = 0
    complete_ns: int = 0

    @property
    def ok(self) -> bool:
        """True when the server accepted the call."""
        return self.code is None

    @property
    def message(self) -> str:
        """The server's error message, if any."""
        return str(self.data.get("Error", {}).get("Message", ""))

    def outcome(self) -> str:
        """``ok`` or the error code: how a probe reports what came back."""
        return "ok (HTTP 200)" if self.ok else str(self.code)


class ConformClient:
    """One backend, seen by the probes of one conform run (id ``run_id``)."""

    def __init__(self, endpoint: Endpoint, run_id: str) -> None:
        self.endpoint = endpoint
        self.run_id = run_id
        self._client = DynamoClient(endpoint, pool=POOL, retries=0, timeout_s=CALL_TIMEOUT_S)
        self.ddb: Any = None  # the raw aiobotocore client, for what call() does not cover

    async def __aenter__(self) -> ConformClient:
        await self._client.__aenter__()
        self.ddb = self._client.raw
        self.ddb.meta.events.register("before-send.dynamodb.*", _stamp_send)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(*exc)

    def table_name(self, probe: str) -> str:
        """``ddbstress-conform-<id>-<probe>``."""
        return table_name(f"conform-{self.run_id}", probe)

    @contextlib.asynccontextmanager
    async def table(self, probe: str) -> AsyncIterator[str]:
        """A fresh on-demand table with the string hash key ``pk``, deleted when the block exits."""
        name = self.table_name(probe)
        await create_table(self._client, {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
            "Tags": table_tags(f"conform-{self.run_id}"),
        })
        try:
            yield name
        finally:
            await delete_table(self._client, name)

    async def call(self, operation: str, **params: Any) -> Reply:
        """Send one call (one attempt, no SDK retry); server errors and lost answers come back as a Reply."""
        stamp = [0]
        token = _sent_at.set(stamp)
        started = time.monotonic_ns()
        try:
            data = await asyncio.wait_for(getattr(self.ddb, operation)(**params), CALL_TIMEOUT_S * 2 + 1)
            code = None
        except botocore.exceptions.ClientError as exc:
            data = dict(exc.response)
            code = str(data.get("Error", {}).get("Code") or "Unknown")
        except (TimeoutError, botocore.exceptions.BotoCoreError, OSError) as exc:
            data, code = {"Error": {"Message": str(exc)}}, type(exc).__name__
        finally:
            _sent_at.reset(token)
        return Reply(code, data, stamp[0] or started, time.monotonic_ns())

    async def get(self, table: str, key: str) -> dict[str, Any] | None:
        """The item under ``key`` (strongly consistent read, DynamoDB JSON), or None; raises if the read fails."""
        reply = await self.call("get_item", TableName=table, Key={KEY: {"S": key}}, ConsistentRead=True)
        if not reply.ok:
            raise ProbeError(f"GetItem failed: {reply.code} {reply.message}")
        return reply.data.get("Item")

    async def put(self, table: str, item: dict[str, Any]) -> None:
        """Unconditional PutItem for a probe's set-up; raises if it fails."""
        reply = await self.call("put_item", TableName=table, Item=item)
        if not reply.ok:
            raise ProbeError(f"set-up PutItem failed: {reply.code} {reply.message}")


class ProbeError(Exception):
    """A probe's set-up or read-back failed: the probe cannot decide (its cell is inconclusive)."""
