"""The fast path (O(n), exact): keys whose ``cas``/``register``/``read`` ops write unique values, each value
then having one producer, so the order of state changes is forced by the values alone."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from harness.checker.linearizability.model import CAS, INF, READ, Call, show
from harness.checker.linearizability.results import Failure, KeyResult, describe, unwritten
from harness.checker.verdict import INVALID, VALID


def _chain_applicable(calls: list[Call], initial: Hashable) -> dict[Hashable, Call] | None:
    """The producer of every written value, or None if the fast path cannot decide this key."""
    producer: dict[Hashable, Call] = {}
    for c in calls:
        if c.kind == CAS:
            if c.new in producer or c.new == initial:
                return None
            producer[c.new] = c
        elif c.kind != READ:
            return None
    return producer


class _Chain:
    """State of the fast path for one key: which ops must happen, and in which order."""

    def __init__(self, calls: list[Call], initial: Hashable, producer: dict[Hashable, Call]) -> None:
        self.calls = calls
        self.initial = initial
        self.producer = producer
        self.required: dict[int, int] = {}  # call index -> index of the ok op that needs it
        self.consumer: dict[Hashable, Call] = {}  # value -> the required cas that overwrites it

    def require_all(self) -> Failure | None:
        """Mark every op some ok op depends on; the first conflict found is returned."""
        for c in self.calls:
            if not c.definite:
                continue
            if c.kind == CAS:
                if c.index in self.required:
                    continue
                failure = self._claim(c, c.index)
                if failure:
                    return failure
            failure = self._require_value(c)
            if failure:
                return failure
        return None

    def _claim(self, c: Call, needed_by: int) -> Failure | None:
        """Mark cas ``c`` as happening; it must be the only one to overwrite its expected value."""
        self.required[c.index] = needed_by
        other = self.consumer.get(c.arg)
        if other is not None:
            return self._lost_update(other, c)
        self.consumer[c.arg] = c
        return None

    def _require_value(self, c: Call) -> Failure | None:
        """Walk up the producers of the value ``c`` expects/reads, marking them required."""
        value = c.arg
        path: list[Call] = []
        while value != self.initial:
            p = self.producer.get(value)
            if p is None:
                return unwritten(c, path)
            if p.index in self.required:
                return None
            path.append(p)
            failure = self._claim(p, c.index)
            if failure:
                return failure
            value = p.arg
        return None

    def _lost_update(self, a: Call, b: Call) -> Failure:
        ops = {a.index, b.index}
        for c in (a, b):
            if not c.definite:
                ops.add(self.required[c.index])
        both_ok = a.definite and b.definite
        what = "two ok ops" if both_ok else "two ops that must both have happened"
        return Failure(
            "lost-update",
            f"{what} overwrote the same value {show(a.arg)!s}: op {a.index} and op {b.index}",
            sorted(ops),
            {"expected": a.arg, "conflicting": [describe(a), describe(b)],
             "needed_by": {str(c.index): self.required[c.index] for c in (a, b) if not c.definite}},
        )

    def chain(self) -> tuple[list[Call], Failure | None]:
        """The forced sequence of state changes, from the initial value on."""
        chain: list[Call] = []
        value = self.initial
        while (p := self.consumer.get(value)) is not None and len(chain) <= len(self.required):
            chain.append(p)
            value = p.new
        if len(chain) == len(self.required):
            return chain, None
        on_chain = {c.index for c in chain}
        stray = sorted(i for i in self.required if i not in on_chain)
        return chain, Failure(
            "cas-unwritten-expected",
            f"ops {stray} form a chain of values never reachable from the initial value",
            stray, {"initial": self.initial},
        )


def _schedule(chain: list[Call], reads: Mapping[Hashable, list[Call]], initial: Hashable) -> Failure | None:
    """Place every op as early as its invoke and its forced predecessors allow.

    Chain op k follows chain op k-1 and every read of the value op k-1 wrote; a read of value v
    follows the op that wrote v. Earliest placement is optimal, so the first op whose earliest
    point lies after its completion proves a real-time violation.
    """
    t: float = -INF
    forcer: Call | None = None
    values = [initial, *(c.new for c in chain)]
    for k, value in enumerate(values):
        last_t, last_forcer = t, forcer
        for r in reads.get(value, ()):
            tr, fr = (r.invoke, r) if r.invoke > t else (t, forcer)
            if tr > r.complete:
                return _too_early(fr, r)
            if tr > last_t:
                last_t, last_forcer = tr, fr
        if k < len(chain):
            c = chain[k]
            t, forcer = (c.invoke, c) if c.invoke > last_t else (last_t, last_forcer)
            if t > c.complete:
                return _too_early(forcer, c)
    return None


def _too_early(first: Call | None, late: Call) -> Failure:
    assert first is not None
    return Failure(
        "real-time-order",
        f"op {late.index} must take effect after op {first.index} (forced by the values), "
        f"but completed at {late.complete} before op {first.index} was invoked at {first.invoke}",
        sorted({first.index, late.index}),
        {"must_precede": describe(first), "op": describe(late)},
    )


def check_chain(calls: list[Call], initial: Hashable) -> KeyResult | None:
    """The fast path for one key, or None when it does not apply (non-unique values, writes)."""
    producer = _chain_applicable(calls, initial)
    if producer is None:
        return None
    state = _Chain(calls, initial, producer)
    failure = state.require_all()
    if failure is None:
        chain, failure = state.chain()
    if failure is None:
        reads: dict[Hashable, list[Call]] = {}
        for c in calls:
            if c.kind == READ and c.definite:
                reads.setdefault(c.arg, []).append(c)
        failure = _schedule(chain, reads, initial)
    return KeyResult(INVALID if failure else VALID, "chain", failure)

