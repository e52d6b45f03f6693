"""Faults tied to the run, not to the clock: did every requested fault kind fire during a workload?

A run with ``--fault`` asks for a verdict *under* those faults. A short run can end before a
``crash:every=10s`` timer fires or before a ``lost-ack:0.001`` draw comes up, and a bare VALID
would then claim something that was never tried. So a workload keeps racing extra rounds until
every requested kind has fired at least once (:class:`FaultCover`), within a stated bound
(:func:`extension_limit_s`); a kind that still never fired makes the verdict ``unknown`` with its
name (:func:`missing_faults`, used by the checkers from the run directory alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from harness.nemesis.spec import CRASH, FaultSpec

# How long a workload may race beyond its planned rounds while waiting for a fault to fire: a minute,
# plus twice the longest crash interval (a crash timer restarts with every workload).
EXTENSION_BASE_S = 60.0
MAX_EXTRA_ROUNDS = 10_000  # a count bound too, for workloads whose rounds take no time at all


def extension_limit_s(specs: Iterable[FaultSpec]) -> float:
    """The most a workload races past its planned rounds waiting for faults to fire."""
    crash = max((spec.interval_s for spec in specs if spec.kind == CRASH), default=0.0)
    return EXTENSION_BASE_S + 2 * crash


def missing_faults(requested: Iterable[FaultSpec], injected: Mapping[str, int]) -> list[FaultSpec]:
    """The requested faults of which nothing was injected."""
    return [spec for spec in requested if not injected.get(spec.kind)]


class FaultCover:
    """Counts of one workload's injected faults, and whether it should keep racing for the rest.

    ``counts`` returns the run's fault counts so far (cumulative over the run); the cover keeps the
    counts seen when the workload started, so each workload must see each kind on its own.
    """

    def __init__(self, specs: list[FaultSpec], counts: Callable[[], Mapping[str, int]]) -> None:
        self.specs = specs
        self._counts = counts
        self._start = dict(counts())
        self.extra_rounds = 0
        self.waited_for: list[str] = []  # the faults still pending when the planned rounds were over
        self._extended_at: float | None = None

    def injected(self) -> dict[str, int]:
        """Faults injected since this workload started, by kind (only the requested kinds)."""
        now = self._counts()
        return {spec.kind: now.get(spec.kind, 0) - self._start.get(spec.kind, 0) for spec in self.specs}

    def pending(self) -> list[FaultSpec]:
        """Requested faults that have not fired yet during this workload."""
        return missing_faults(self.specs, self.injected())

    def keep_racing(self) -> bool:
        """True while a requested fault has not fired and the extension bound is not reached."""
        pending = self.pending()
        if not pending:
            return False
        if self._extended_at is None:
            self._extended_at = time.monotonic()
            self.waited_for = [str(spec) for spec in pending]
        within = time.monotonic() - self._extended_at < extension_limit_s(self.specs)
        return within and self.extra_rounds < MAX_EXTRA_ROUNDS

    def extension(self) -> dict[str, object] | None:
        """What the extension did (for run.json), or None when the planned rounds were enough."""
        if not self.extra_rounds:
            return None
        seconds = time.monotonic() - self._extended_at if self._extended_at else 0.0
        return {"extra_rounds": self.extra_rounds, "seconds": round(seconds, 2), "waited_for": self.waited_for,
                "still_missing": [str(spec) for spec in self.pending()], "limit_s": extension_limit_s(self.specs)}
