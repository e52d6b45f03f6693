"""The client: sends one DynamoDB call and classifies what happened.

Outcomes follow Jepsen:

* ``ok``   — applied.
* ``fail`` — definitely not applied: ConditionalCheckFailed on the first attempt, a cancelled
  transaction, validation errors, throttling (a cancellation or throttling after a retry is ``info``).
* ``info`` — indeterminate: timeouts, connection errors, 5xx, or a conditional failure after the
  SDK retried (the earlier attempt may have been applied and the retry saw its own write). When the
  item returned with ``ALL_OLD`` carries this op's own token, the earlier attempt provably won and
  the outcome is resolved to ``ok`` (``raw`` keeps what the SDK said).
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from typing import Any

import aioboto3
import botocore.exceptions
from aiobotocore.config import AioConfig

from harness.backends import Endpoint
from harness.history import CONDITIONAL_FAILED, TRANSACTION_CANCELED
from harness.items import plain_item

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                              "RequestLimitExceeded", "ThrottlingError"})
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure",
                                "ServiceUnavailableException"})

_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("attempts", default=None)


@dataclass
class Request:
    """One low-level DynamoDB call, built before the starting gun."""

    operation: str  # client method name, e.g. "put_item"
    params: dict[str, Any]
    token: tuple[str, Any] | None = None  # (attribute, value) that marks an item as written by this op


@dataclass
class Outcome:
    """What one call did, classified."""

    type: str
    error: str | None = None
    attempts: int = 1
    item: dict[str, Any] | None = None  # Attributes / Item of a success, as plain JSON
    old: dict[str, Any] | None = None  # ALL_OLD item returned with a conditional failure
    raw: str | None = None  # the SDK's own outcome when it differs from `type`
    reasons: list[str] | None = None  # transaction cancellation reasons, per item

    @property
    def throttled(self) -> bool:
        """True when the server refused the call for capacity."""
        return self.error in THROTTLING_CODES


def _count_attempt(**_: Any) -> None:
    counter = _attempts.get()
    if counter is not None:
        counter[0] += 1


class DynamoClient:
    """One aioboto3 client per run, with a connection pool sized to the workers."""

    def __init__(self, endpoint: Endpoint, *, pool: int, retries: int = 0, timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.timeout_s = timeout_s
        self._config = AioConfig(
            max_pool_connections=max(pool, 10),  # the default 10 silently serialises 200 workers
            # `max_attempts` would count retries, not attempts. "standard" mode has a retry quota that
            # only successes refill: in a race almost every answer is a conditional failure, so the quota
            # ran dry and ~85% of lost responses were silently not retried (measured, lost-ack:0.05).
            # "legacy" retries connection errors, 5xx and throttling exactly --retries times.
            retries={"total_max_attempts": retries + 1, "mode": "legacy"},
            connect_timeout=timeout_s, read_timeout=timeout_s,
        )
        self._session = aioboto3.Session()
        self._cm: Any = None
        self.raw: Any = None

    async def __aenter__(self) -> DynamoClient:
        self._cm = self._session.client("dynamodb", config=self._config, **self.endpoint.client_kwargs())
        self.raw = await self._cm.__aenter__()
        self.raw.meta.events.register("before-send.dynamodb.*", _count_attempt)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(None, None, None)

    async def warm(self) -> int:
        """Called before every race; the SDK path manages its own pool (nothing to do)."""
        return 0

    def prepare(self, request: Request) -> Any:
        """Work done before the starting gun (nothing for the SDK path; see harness.prepared)."""
        return None

    async def send(self, request: Request, prepared: Any = None) -> Outcome:
        """Send a request prepared before the gun (the SDK path just calls it)."""
        return await self.call(request)

    async def call(self, request: Request) -> Outcome:
        """Send the request and classify its outcome; never raises for server-side outcomes."""
        counter = [0]
        token = _attempts.set(counter)
        method = getattr(self.raw, request.operation)
        # The SDK's own timeouts apply per attempt; this bound only catches a hung event loop/pool.
        overall = (self.timeout_s * 2 + 1) * (self.retries + 1)
        try:
            response = await asyncio.wait_for(method(**request.params), overall)
        except botocore.exceptions.ClientError as exc:
            return classify_client_error(exc.response, max(counter[0], 1), request.token)
        except (TimeoutError, botocore.exceptions.BotoCoreError, OSError) as exc:
            return Outcome("info", error=type(exc).__name__, attempts=max(counter[0], 1))
        finally:
            _attempts.reset(token)
        item = response.get("Attributes") or response.get("Item")
        return Outcome("ok", attempts=max(counter[0], 1), item=plain_item(item))


def classify_client_error(response: dict[str, Any], attempts: int,
                          token: tuple[str, Any] | None = None) -> Outcome:
    """Turn an error response into fail/info (or ok, when ALL_OLD proves our earlier attempt won)."""
    code = response.get("Error", {}).get("Code", "Unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    old = plain_item(response.get("Item"))
    if code == CONDITIONAL_FAILED:
        if attempts == 1:
            return Outcome("fail", error=code, attempts=1, old=old)
        if token and old is not None and old.get(token[0]) == token[1]:
            return Outcome("ok", error=None, attempts=attempts, old=old, item=old, raw=code)
        return Outcome("info", error=code, attempts=attempts, old=old, raw=code)
    if code == TRANSACTION_CANCELED:
        reasons = [r.get("Code", "None") for r in response.get("CancellationReasons", [])]
        kind = "fail" if attempts == 1 else "info"
        return Outcome(kind, error=code, attempts=attempts, reasons=reasons)
    if status >= 500 or code in SERVER_ERROR_CODES:
        return Outcome("info", error=code, attempts=attempts)
    # Only retryable errors (throttling) get here after a retry, and the earlier attempt may have been
    # applied (e.g. its response was lost): like a cancelled transaction, that is indeterminate.
    return Outcome("fail" if attempts == 1 else "info", error=code, attempts=attempts)


CLIENT_KINDS = ("sdk", "prepared")


def make_client(kind: str, endpoint: Endpoint, *, pool: int, retries: int = 0, timeout_s: float = 10.0) -> DynamoClient:
    """``sdk``: every call through aioboto3 (exercises the SDK's retries); ``prepared``: requests
    serialised and signed before the starting gun and written on pre-opened connections."""
    if kind == "sdk":
        return DynamoClient(endpoint, pool=pool, retries=retries, timeout_s=timeout_s)
    if kind == "prepared":
        from harness.prepared import PreparedClient

        return PreparedClient(endpoint, pool=pool, retries=retries, timeout_s=timeout_s)
    raise ValueError(f"unknown client {kind!r}")
