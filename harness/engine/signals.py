"""SIGTERM handled as Ctrl-C, so a run killed by a supervisor cleans up like an interrupted one."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so tables and child processes are cleaned up."""
    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
