"""The crash nemesis: kill the managed DynamoDB Local and bring it back while workloads race."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from harness.history.events import HistoryWriter
from harness.nemesis.spec import CRASH, fault_event

if TYPE_CHECKING:
    from harness.backends.servers import LocalServer


class CrashLoop:
    """Every ``interval_s`` while a workload races: SIGKILL the managed DynamoDB Local and start it again
    on the same disk. Races wait (``wait_until_up``) while it restarts: the nemesis tells the generator."""

    def __init__(self, server: LocalServer, interval_s: float, history: HistoryWriter) -> None:
        self.server, self.interval_s, self.history = server, interval_s, history
        self.crashes = 0
        self._up = asyncio.Event()
        self._up.set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait_until_up(self) -> None:
        """Return once the server is not being restarted."""
        await self._up.wait()

    async def __aenter__(self) -> CrashLoop:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task:
            await self._task  # lets a restart in progress finish: the final read needs the server

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
                return
            self._up.clear()
            self.crashes += 1
            self._record("start", "SIGKILL")
            try:
                await asyncio.to_thread(self.server.restart)
            finally:
                self._record("stop", "restarted")
                self._up.set()

    def _record(self, phase: str, action: str) -> None:
        self.history.append(fault_event(CRASH, {"time": time.monotonic_ns(), "phase": phase, "action": action}))
