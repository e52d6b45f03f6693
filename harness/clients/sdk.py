"""The SDK client: sends one DynamoDB call through aioboto3 and classifies what happened (``harness.clients.outcome``
says what ``ok`` / ``fail`` / ``info`` mean)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any

import aioboto3
import botocore.exceptions
from aiobotocore.config import AioConfig

from harness.backends.endpoint import Endpoint
from harness.clients.items import plain_item
from harness.clients.outcome import CLIENT_KINDS, THROTTLING_CODES, Outcome, Request, classify_client_error

# The classification lives in harness.clients.outcome (no SDK there); these names stay importable from here, where
# custom workloads and tests have always found them.
__all__ = ["CLIENT_KINDS", "THROTTLING_CODES", "DynamoClient", "Outcome", "Request", "classify_client_error"]

log = logging.getLogger(__name__)
_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("attempts", default=None)


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
        """Work done before the starting gun (nothing for the SDK path; see harness.clients.prepared)."""
        return None

    async def send(self, request: Request, prepared: Any = None) -> Outcome:
        """Send a request prepared before the gun (the SDK path just calls it)."""
        return await self.call(request)

    def submit(self, request: Request, prepared: Any, done: Callable[[Outcome], None]) -> asyncio.Task[Outcome]:
        """Send without waiting: ``done(outcome)`` is called once the call is classified (from the event loop,
        never before ``submit`` returns), unless the returned task is cancelled first. Here a task around
        ``send``; the prepared client needs no task."""
        task = asyncio.get_running_loop().create_task(self.send(request, prepared))

        def finished(task: asyncio.Task[Outcome]) -> None:
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None:  # a bug, not an outcome: the op stays, as indeterminate
                log.error("%s crashed: %r", request.operation, exc)
                done(Outcome("info", error=type(exc).__name__))
            else:
                done(task.result())

        task.add_done_callback(finished)
        return task

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
