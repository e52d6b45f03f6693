"""The harness's fault proxy for a user's own code: a :class:`~harness.nemesis.proxy.FaultProxy` on a thread of
its own, so synchronous code (boto3, PynamoDB, a lock library) and asyncio code alike can be pointed at it.

The proxy is asyncio; a plain-threads test has no event loop to run it on, and an async test's loop may be
blocked by the very code under test. Its own loop on a daemon thread serves both::

    with BackgroundFaultProxy(endpoint.url, [parse_fault("lost-ack:0.2")], seed=1) as proxy:
        ddb = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        ...
        assert proxy.injected()["lost-ack"] > 0   # the fault really fired

Every injected fault is counted (:meth:`injected`, ``counts``) and kept as an event (``events``: kind, time in
``time.monotonic_ns()``, the request's ``x-amz-target`` such as ``DynamoDB_20120810.PutItem``, and for a lost ack
the HTTP status of the response that was dropped), so a test can tell which of its calls were hit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from harness.nemesis.proxy import FaultProxy
from harness.nemesis.spec import CRASH, FaultSpec, parse_faults

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
COUNTED = ("requests", "connections")  # proxy.counts keys that are not faults


def parse_request_faults(specs: Iterable[str]) -> list[FaultSpec]:
    """Parse per-request fault specs (lost-ack, latency, stall, reset); ValueError, one line, otherwise.

    ``crash`` is refused: it kills the server, which belongs to the whole session, not to one test.
    """
    faults = parse_faults(specs)
    if not faults:
        raise ValueError("no fault given: name at least one, e.g. 'lost-ack:0.2' or 'latency:50ms'")
    if any(f.kind == CRASH for f in faults):
        raise ValueError("crash faults restart the session's server and are not available per test; "
                         "use lost-ack, latency, stall or reset")
    return faults


class BackgroundFaultProxy:
    """A started-on-demand FaultProxy whose event loop runs on a daemon thread (see the module docstring)."""

    def __init__(self, upstream_url: str, faults: Iterable[FaultSpec], *, seed: int = 0) -> None:
        self.faults = list(faults)
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._proxy = FaultProxy(upstream_url, self.faults, seed=seed, on_fault=self._on_fault)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _on_fault(self, kind: str, info: dict[str, Any]) -> None:
        with self._lock:  # called on the proxy's thread; read from the test's
            self.events.append({"kind": kind, **info})

    @property
    def url(self) -> str:
        """The endpoint URL to give the SDK instead of the server's."""
        return self._proxy.url

    @property
    def counts(self) -> dict[str, int]:
        """The proxy's counters: ``requests``, ``connections`` and one per fault kind (a copy)."""
        return dict(self._proxy.counts)

    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected so far (kinds that fired at least once)."""
        return {kind: n for kind, n in self._proxy.counts.items() if kind not in COUNTED and n}

    def hits(self, kind: str, operation: str | None = None, *, status: int | None = None) -> int:
        """How many ``kind`` faults hit requests of ``operation`` (``"PutItem"``; any when None).

        ``status`` counts only lost acks of responses with that HTTP status: ``status=200`` are the lost
        responses of requests the server *applied* (a conditional write that failed answers 400).
        """
        with self._lock:
            events = list(self.events)
        return sum(1 for e in events if e["kind"] == kind
                   and (operation is None or str(e.get("target") or "").endswith("." + operation))
                   and (status is None or e.get("status") == status))

    def start(self) -> BackgroundFaultProxy:
        """Start the loop thread and the proxy on it; returns self once it listens."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="ddb-stress-fault-proxy", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._proxy.start(), loop).result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the proxy (aborting its connections) and the loop thread; safe to call twice."""
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._proxy.stop(), loop).result(STOP_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()

    def __enter__(self) -> BackgroundFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
