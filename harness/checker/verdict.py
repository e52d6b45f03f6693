"""Verdicts: what a checker concludes from a history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

VALID = "valid"
INVALID = "invalid"
UNKNOWN = "unknown"

# Exit codes of `stress run` / `stress check`.
EXIT_CODES = {VALID: 0, INVALID: 1, UNKNOWN: 3}
EXIT_USAGE = 2


@dataclass
class Violation:
    """One broken invariant, with the ops (history indices) that show it."""

    kind: str
    key: str
    message: str
    ops: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form for verdict.json and --json output."""
        return asdict(self)


@dataclass
class Verdict:
    """valid / invalid / unknown, with counterexamples and the reasons for unknown."""

    status: str = VALID
    violations: list[Violation] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)

    def fail(self, kind: str, key: str, message: str, ops: Iterable[int] = (), **details: Any) -> None:
        """Record a violation; the verdict becomes invalid."""
        self.violations.append(Violation(kind, key, message, sorted(ops), details))
        self.status = INVALID

    def undecided(self, reason: str) -> None:
        """Record why the history cannot decide; invalid still wins over unknown."""
        self.unknowns.append(reason)
        if self.status == VALID:
            self.status = UNKNOWN


def combine(statuses: Iterable[str]) -> str:
    """Overall verdict of several: invalid beats unknown beats valid."""
    statuses = list(statuses)
    if INVALID in statuses:
        return INVALID
    if UNKNOWN in statuses:
        return UNKNOWN
    return VALID
