"""What checking one key concludes (:class:`KeyResult`), its counterexample (:class:`Failure`), and the
counterexample ops as plain JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.checker.linearizability.model import INF, READ, Call, plain, show


@dataclass
class Failure:
    """A counterexample found for one key."""

    kind: str
    message: str
    ops: list[int]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class KeyResult:
    """What checking one key concluded, and how."""

    status: str
    method: str
    failure: Failure | None = None
    reason: str = ""
    steps: int = 0


def describe(c: Call) -> dict[str, Any]:
    """One op of a counterexample as plain JSON: index, kind, values and times."""
    return {"index": c.index, "kind": c.kind, "arg": plain(c.arg), "new": plain(c.new),
            "type": "ok" if c.definite else "info", "invoke_time": c.invoke,
            "complete_time": None if c.complete == INF else c.complete}


def unwritten(c: Call, path: list[Call]) -> Failure:
    """A cas/read needs a value no op ever wrote (possibly via indeterminate ops in ``path``)."""
    missing = path[-1].arg if path else c.arg
    kind = "read-unwritten" if c.kind == READ else "cas-unwritten-expected"
    verb = "read" if c.kind == READ else "expected"
    via = f" (via indeterminate ops {[p.index for p in path]})" if path else ""
    return Failure(kind, f"op {c.index} {verb} value {show(missing)} that no op wrote{via}",
                   sorted([c.index, *(p.index for p in path)]),
                   {"value": missing, "op": describe(c), "via": [describe(p) for p in path]})

