"""A pure-Python linearizability checker for single-object histories (no network).

Input is a list of :class:`harness.history.events.Op` (invoke already paired with its completion):

* ``fail`` ops definitely did not happen and are dropped;
* ``ok`` ops happened at some instant between their invoke and completion times;
* ``info`` ops may or may not have happened: if they did, at some instant after their invoke
  (their return time is +infinity, since a retried request may land late), and they may also
  be left out of the linearization entirely.

Ops are partitioned by ``op.key`` and every key is checked on its own (P-compositionality:
a history of independent objects is linearizable iff each object's sub-history is).

Each key goes through two checkers:

1. **CAS-chain fast path** (O(n), exact) for keys that only hold ``cas``/``register``/``read``
   ops whose written (``new``) values are unique and differ from the initial value: each value
   then has at most one producer, so the order of state changes is forced by the values alone.
   It reports lost updates (two ops consuming the same expected value), CAS/reads of values
   never written, and real-time violations (an op that completed before an op it must follow
   was invoked) as two- or three-op counterexamples.
2. **General search** (Wing & Gong's backtracking with Lowe's memoisation of
   ``(linearized-set, state)``, entries kept in a dancing-links list as in Porcupine), bounded by
   a deadline and an optional step cap; running out of budget yields ``unknown``. Indeterminate
   ops make it exponential, so three reductions keep it exact with fewer states: identical
   indeterminate ops are tried in invoke order only; a configuration is pruned when one with the
   same ok ops linearized, the same state and fewer indeterminate ops was seen; and an
   indeterminate op that the next op makes pointless is skipped. Each configuration tries its ok
   ops before its indeterminate ones.

   On a violation the history is shrunk soundly. The search itself gives the shortest
   non-linearizable prefix (the first return it could never get past, at the "culprit"'s
   completion). Then every ok op that can be relaxed to ``info`` without making the prefix
   linearizable is relaxed: first all but a guess (the culprit, the writers of the value it reads
   or expects, the last few ops before it), grown by the ops each linearization the relaxed history
   admits leans on until it admits none; else in halving chunks as in delta debugging (a binary
   tree: a half whose relaxation admits a linearization is split again). Each trial is decided by a
   cheaper over-approximation in which indeterminate ops may take effect any number of times (its
   ``invalid`` proves ``invalid``; where it cannot prove even the whole prefix invalid, by the exact
   search), and every op left ``ok`` is finally proven needed exactly: by that search's own
   linearization when it uses no indeterminate op twice, else by the exact search. Those ops are the
   counterexample, minimal: even if every other op were indeterminate they admit no linearization,
   and relaxing any one of them admits one.

Time ties: an op invoked at the same nanosecond another completes counts as concurrent with it
(the lenient reading, so clock granularity never produces a false alarm).

Models are small classes (``init``, ``prepare``, ``step``) kept in :data:`MODELS`; add an entry
there to check a new datatype.
"""

from __future__ import annotations

import bisect
import gc
import math
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.checker.verdict import INVALID, UNKNOWN, VALID, Verdict
from harness.history.events import FAIL, OK, Op

INF = float("inf")
MAX_UNKNOWN_MESSAGES = 20
DEFAULT_MINIMIZE_S = 2.0
MINIMIZE_FLOOR_S = 0.25
MINIMIZE_MAX_OPS = 2000
SWEEP_MAX_OPS = 40  # a guess up to this size is swept op by op, a bigger one bisected first (see _shrink)
MINIMIZE_STEPS = 200_000
# Ways to count the uses of the kinds that take effect once, per state (see _Shrinker._exact). 16, not 8, since
# those searches share their transitions: 203-206 ms against 219 on 100 generated invalid 90-op histories.
MAX_COUNTED_STATES = 16
_CHECK_EVERY = 1024

# Call kinds the built-in models use (a custom model may add its own).
READ = "read"
WRITE = "write"
CAS = "cas"


class Call(NamedTuple):
    """An op prepared for checking: hashable arguments, numeric times.

    ``arg`` is the value read, written or expected; ``new`` the value a cas writes.
    ``complete`` is +infinity for an op that may take effect at any time after its invoke.
    """

    index: int
    kind: str
    arg: Hashable
    new: Hashable
    invoke: int
    complete: float
    definite: bool


def _new_call(fields: tuple[Any, ...]) -> Call:
    return tuple.__new__(Call, fields)


class FrozenDict(tuple):
    """A dict frozen into a hashable, order-independent tuple of items."""

    __slots__ = ()


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Hashable:
    """A hashable, comparable form of a JSON-like value (dicts, lists and sets included)."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict):
        return FrozenDict(sorted((k, v if type(v) in _SCALARS else freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    return value


def make_call(op: Op, kind: str, arg: Hashable, new: Hashable = None) -> Call:
    """Build the :class:`Call` for ``op``: ``ok`` ops are definite, others open-ended."""
    complete = op.complete_time
    if op.type == OK and complete is not None:
        return _new_call((op.index, kind, arg, new, op.invoke_time, complete, True))
    return _new_call((op.index, kind, arg, new, op.invoke_time, INF, False))


class Model(ABC):
    """A sequential datatype: an initial state and a transition function.

    ``prepare`` turns an op into a :class:`Call` (or None when the op cannot constrain anything,
    e.g. an indeterminate read); ``step(state, call)`` returns ``(ok, new_state)``; ``relax``
    returns the call as if it had been indeterminate (None if it then constrains nothing).
    States must be hashable.
    """

    name = "model"

    def init(self, initial: Any) -> Hashable:
        """The initial state for a user-supplied initial value."""
        return freeze(initial)

    @abstractmethod
    def prepare(self, op: Op) -> Call | None:
        """The call to check for ``op`` (``fail`` ops never reach this)."""

    @abstractmethod
    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        """Apply ``call`` to ``state``: whether it is legal there, and the state after it."""

    def relax(self, call: Call) -> Call | None:
        """``call`` as an indeterminate op: may happen any time after its invoke, or never."""
        if call.kind == READ:
            return None
        return call._replace(complete=INF, definite=False)


class RegisterModel(Model):
    """A read/write register: ``write`` (invoke value) sets it, ``read`` (result) observes it.

    ``None`` stands for an absent item.
    """

    name = "register"

    def prepare(self, op: Op) -> Call | None:
        if op.f == WRITE:
            return make_call(op, WRITE, freeze(op.value))
        if op.f == READ:
            return make_call(op, READ, freeze(op.result)) if op.type == OK else None
        raise ValueError(f"model {self.name!r} cannot check op {op.index} with f={op.f!r}")

    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        kind = call.kind
        if kind == READ:
            return state == call.arg, state
        if kind == WRITE:
            return True, call.arg
        if kind == CAS:
            return (True, call.new) if state == call.arg else (False, state)
        raise ValueError(f"model {self.name!r} has no step for kind {kind!r}")


class CasRegisterModel(RegisterModel):
    """A register with compare-and-set.

    ``cas`` takes ``{"expected": e, "new": n}`` and, when it takes effect, needs state ``e`` and
    sets ``n``. ``register`` (a put conditioned on ``attribute_not_exists``) is a cas from
    ``None`` to the invoke value.
    """

    name = "cas-register"

    def prepare(self, op: Op) -> Call | None:
        if op.f == CAS:
            value = op.value if isinstance(op.value, dict) else {}
            if "expected" not in value or "new" not in value:
                raise ValueError(f"cas op {op.index} needs a value {{'expected': ..., 'new': ...}}")
            return make_call(op, CAS, freeze(value["expected"]), freeze(value["new"]))
        if op.f == "register":
            return make_call(op, CAS, None, freeze(op.value))
        return super().prepare(op)


MODELS: dict[str, Model] = {
    RegisterModel.name: RegisterModel(),
    CasRegisterModel.name: CasRegisterModel(),
}


def get_model(model: str | Model) -> Model:
    """The model called ``model`` in :data:`MODELS` (or ``model`` itself if it is a Model)."""
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(sorted(MODELS))}") from None


# --------------------------------------------------------------------------------------------
# Results


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


# --------------------------------------------------------------------------------------------
# Fast path: CAS chains with unique written values


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
                return _unwritten(c, path)
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
            f"{what} overwrote the same value {_show(a.arg)!s}: op {a.index} and op {b.index}",
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


def describe(c: Call) -> dict[str, Any]:
    """One op of a counterexample as plain JSON: index, kind, values and times."""
    return {"index": c.index, "kind": c.kind, "arg": _plain(c.arg), "new": _plain(c.new),
            "type": "ok" if c.definite else "info", "invoke_time": c.invoke,
            "complete_time": None if c.complete == INF else c.complete}


def _unwritten(c: Call, path: list[Call]) -> Failure:
    """A cas/read needs a value no op ever wrote (possibly via indeterminate ops in ``path``)."""
    missing = path[-1].arg if path else c.arg
    kind = "read-unwritten" if c.kind == READ else "cas-unwritten-expected"
    verb = "read" if c.kind == READ else "expected"
    via = f" (via indeterminate ops {[p.index for p in path]})" if path else ""
    return Failure(kind, f"op {c.index} {verb} value {_show(missing)} that no op wrote{via}",
                   sorted([c.index, *(p.index for p in path)]),
                   {"value": missing, "op": describe(c), "via": [describe(p) for p in path]})


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


# --------------------------------------------------------------------------------------------
# General search: Wing & Gong + Lowe's memoisation


class _Budget:
    """A deadline and a step cap shared by the searches of one check."""

    def __init__(self, deadline: float, max_steps: int | None) -> None:
        self.deadline = deadline
        self.max_steps = max_steps

    def exhausted(self, steps: int) -> bool:
        """True once the step cap or the deadline is passed."""
        if self.max_steps is not None and steps >= self.max_steps:
            return True
        return time.monotonic() >= self.deadline


def _link(calls: list[Call]) -> tuple[list[int], list[int], int]:
    """Doubly linked entry list: call entry 2i and return entry 2i+1 (definite ops only)."""
    events: list[tuple[float, int, int]] = []
    for i, c in enumerate(calls):
        events.append((c.invoke, 0, 2 * i))
        if c.complete != INF:
            events.append((c.complete, 1, 2 * i + 1))
    events.sort()
    head = 2 * len(calls)
    nxt = [-1] * (head + 1)
    prv = [-1] * (head + 1)
    last = head
    for _, _, e in events:
        nxt[last] = e
        prv[e] = last
        last = e
    return nxt, prv, head


class Outcome(NamedTuple):
    """What one search concluded.

    ``frontier`` is, for an ``invalid`` search, the completion time of the first op no linearization
    could get past: the shortest non-linearizable prefix ends there.
    """

    status: str
    steps: int
    frontier: float


def search(calls: list[Call], model: Model, initial: Hashable, budget: _Budget, *,
           reusable: bool = False, witness: list[tuple[Call, float]] | None = None) -> Outcome:
    """Decide whether ``calls`` (one key) are linearizable.

    Indeterminate calls have no return entry: the search succeeds when only they remain. Two
    reductions keep it exact while cutting the states it visits when many ops are indeterminate:

    * indeterminate calls that do the same (kind and arguments) are interchangeable except for their
      invoke times, so the later one is only tried once the earlier one is linearized;
    * a configuration is pruned when one with the same definite ops linearized, the same state and a
      subset of the indeterminate ones was seen: it has every option this one has.

    With ``reusable=True`` an indeterminate call may take effect any number of times (it is never
    removed, so only the first of a kind is kept). That only adds behaviours, so ``invalid`` there
    proves ``invalid`` here; it is cheap because indeterminate calls leave the memo key.

    When the result is ``valid`` and ``witness`` is a list, it receives the linearization found: each call
    that took effect, in order, with its completion, or for an indeterminate one its deadline, the earliest
    completion of an ok call after it (see :func:`_search_reusable` for the reusable one's).
    """
    if reusable:
        return _search_reusable(calls, model, initial, budget, witness)
    nxt, prv, head = _link(calls)
    has_return = [c.complete != INF for c in calls]
    twin = _earlier_twins(calls)
    definite = sum(1 << i for i, c in enumerate(calls) if c.definite)
    step = model.step
    cache: dict[tuple[int, Hashable], list[int]] = {}
    stack: list[tuple[int, Hashable]] = []
    state, linearized, steps, frontier = initial, 0, 0, -INF
    # Each configuration's candidates are scanned twice: ok ops first, then indeterminate ones, so the
    # configurations that used fewer indeterminate ops come first and prune those that used more.
    indeterminate_pass = False
    entry = nxt[head]
    while entry != -1:
        steps += 1
        if steps % _CHECK_EVERY == 0 and budget.exhausted(steps):
            return Outcome(UNKNOWN, steps, frontier)
        i = entry >> 1
        if entry & 1 == 0:
            j = twin[i]
            if has_return[i] == indeterminate_pass or (j >= 0 and not linearized >> j & 1):
                entry = nxt[entry]
                continue
            ok, new_state = step(state, calls[i])
            if ok and stack and not has_return[stack[-1][0]]:
                # After an indeterminate op that this one makes pointless (it would be legal and leave
                # the same state without it), the order without that op is searched instead.
                ok_before, state_before = step(stack[-1][1], calls[i])
                ok = not (ok_before and state_before == new_state)
            if ok:
                mask = linearized | (1 << i)
                memo = (mask & definite, new_state)
                used = mask & ~definite
                seen = cache.get(memo)
                fresh = True
                if seen is None:
                    cache[memo] = [used]
                elif any(u | used == used for u in seen):
                    fresh = False
                else:
                    seen[:] = [u for u in seen if u | used != u]
                    seen.append(used)
                if fresh:
                    stack.append((i, state))
                    state, linearized = new_state, mask
                    _lift(nxt, prv, entry, has_return[i])
                    indeterminate_pass = False
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
            continue
        # A return entry: the op must be linearized before anything after it.
        if not indeterminate_pass:
            indeterminate_pass = True
            entry = nxt[head]
            continue
        if calls[i].complete > frontier:
            frontier = calls[i].complete
        if not stack:
            return Outcome(INVALID, steps, frontier)
        i, state = stack.pop()
        linearized &= ~(1 << i)
        _unlift(nxt, prv, 2 * i, has_return[i])
        indeterminate_pass = not has_return[i]
        entry = nxt[2 * i]
    if witness is not None:
        deadline, moves = INF, []
        for i, _ in reversed(stack):
            moves.append((calls[i], calls[i].complete if has_return[i] else deadline))
            if has_return[i]:
                deadline = min(deadline, calls[i].complete)
        witness.extend(reversed(moves))
    return Outcome(VALID, steps, frontier)


def _earlier_twins(calls: list[Call]) -> list[int]:
    """For each indeterminate call, the position of the last indeterminate call invoked before it that
    does the same (kind and arguments), or -1.

    Any linearization can swap two such calls so the earlier-invoked one goes first (it was invoked by
    then too): searching only those orders loses nothing.
    """
    twin = [-1] * len(calls)
    last: dict[tuple[str, Hashable, Hashable], int] = {}
    for i in sorted(range(len(calls)), key=lambda i: calls[i].invoke):
        c = calls[i]
        if not c.definite:
            sig = (c.kind, c.arg, c.new)
            twin[i] = last.get(sig, -1)
            last[sig] = i
    return twin


class _Transitions:
    """How sets of states move in the reusable search (:func:`_search_reusable`) with the kinds ``counted``
    taking effect once per call, kept across the searches of one shrinking, which differ only in which ops are
    relaxed: what an ok call does to a set of states depends only on its kind and arguments, and what the
    indeterminate calls can do on top only on which kinds are invoked (for a counted kind, how many of its
    calls). So that is worked out once per shrinking, not once per trial.

    A state is the object's state with how many calls of each counted kind took effect (in the order of
    ``counted``); states are numbered, sets of them are bitmasks. What is invoked is a pair: the bitmask of the
    reusable kinds invoked (kinds are numbered too) and the tuple of how many calls of each counted kind are.
    (The reusable search already treats calls of one kind and arguments alike, see :func:`_first_of_each_kind`.)
    """

    def __init__(self, model: Model, initial: Hashable, counted: tuple[tuple[str, Hashable, Hashable], ...]) -> None:
        self.model, self.counted = model, counted
        self.place = {kind: q for q, kind in enumerate(counted)}
        self.ids: dict[Hashable, int] = {}
        self.states: list[tuple[Hashable, tuple[int, ...]]] = []
        self.kinds: dict[tuple[str, Hashable, Hashable], int] = {}
        self.kind_calls: list[Call] = []  # a call of each reusable kind, as numbered
        self.once_calls: list[Call | None] = [None] * len(counted)  # a call of each counted kind
        self.moves: dict[tuple[int, int], int] = {}  # (kind number or -1 - place, state) -> state, -1 illegal
        # Per state: the states the reusable kinds move it to, each with the bitmask of the kinds that do, and how
        # many kinds (by number) that covers. A closure's walk asks which of the kinds invoked move a state where:
        # a handful of states against tens of kinds (on 100 generated invalid 90-op histories, decisions and
        # shrinking took 4.51x the decisions against 4.76x walking every kind invoked, same counterexamples).
        self.targets: list[tuple[int, list[tuple[int, int]]]] = []
        # kind -> states -> states, and invoked -> states -> states: a dict per kind or per invoked, since looking
        # up an int is cheaper than a tuple holding it: on 100 generated invalid 90-op histories, shrinking took
        # 4.85-5.06x the decisions against 5.09-5.43x with one dict keyed by (kind or invoked, states), same
        # counterexamples.
        self.after: dict[tuple[str, Hashable, Hashable], dict[int, int]] = {}
        self.closures: dict[tuple[int, tuple[int, ...]], dict[int, int]] = {}
        self.start = self.number((initial, (0,) * len(counted)))

    def number(self, state: tuple[Hashable, tuple[int, ...]]) -> int:
        found = self.ids.get(state)
        if found is None:
            found = self.ids[state] = len(self.states)
            self.states.append(state)
        return found

    def invoked(self, maybe: list[Call]) -> list[tuple[int, tuple[int, ...]]]:
        """What is invoked once the first k calls of ``maybe`` (by invoke) are, for each k."""
        mask, counts = 0, [0] * len(self.counted)
        out = [(0, tuple(counts))]
        for c in maybe:
            kind = (c.kind, c.arg, c.new)
            q = self.place.get(kind)
            if q is None:
                found = self.kinds.get(kind)
                if found is None:
                    found = self.kinds[kind] = len(self.kind_calls)
                    self.kind_calls.append(c)
                mask |= 1 << found
            else:
                self.once_calls[q] = c
                counts[q] += 1
            out.append((mask, tuple(counts)))
        return out

    def steps_of(self, kind: tuple[str, Hashable, Hashable]) -> dict[int, int]:
        """What :meth:`step` found for the ok calls of ``kind``: states -> states."""
        found = self.after.get(kind)
        if found is None:
            found = self.after[kind] = {}
        return found

    def step(self, c: Call, bits: int, known: dict[int, int]) -> int:
        """The states an ok call ``c`` can leave from the states ``bits`` (0: illegal from all), kept in
        ``known``, the :meth:`steps_of` its kind (the caller looks there first)."""
        found = 0
        for sid in _bits(bits):
            # Each state's step is kept too: a set met for the first time is mostly states met before (4.22x
            # against 4.35x and 3.77x against 3.89x on 100 generated invalid histories).
            one = known.get(1 << sid)
            if one is None:
                state, uses = self.states[sid]
                ok, new = self.model.step(state, c)
                one = known[1 << sid] = 1 << self.number((new, uses)) if ok else 0
            found |= one
        known[bits] = found
        return found

    def _move(self, key: tuple[int, int], c: Call, sid: int, q: int) -> int:
        """The state indeterminate call ``c`` moves state ``sid`` to (-1: illegal or no change), counting a use
        of counted kind ``q`` (-1: none)."""
        state, uses = self.states[sid]
        ok, new = self.model.step(state, c)
        if not ok or new == state:
            found = -1
        else:
            found = self.number((new, uses if q < 0 else (*uses[:q], uses[q] + 1, *uses[q + 1:])))
        self.moves[key] = found
        return found

    def closures_of(self, invoked: tuple[int, tuple[int, ...]]) -> dict[int, int]:
        """What :meth:`closure` found with the indeterminate calls ``invoked``: states -> states."""
        found = self.closures.get(invoked)
        if found is None:
            found = self.closures[invoked] = {}
        return found

    def closure(self, invoked: tuple[int, tuple[int, ...]], bits: int, known: dict[int, int]) -> int:
        """``bits`` and every state reachable from them by the indeterminate calls ``invoked``, kept in ``known``,
        the :meth:`closures_of` ``invoked`` (the caller looks there first).

        The union of the closures of its states, each kept too (as the set of that state alone): a set met
        for the first time is mostly states met before. On 100 generated invalid 90-op histories that took
        decisions and shrinking from 5.27x the decisions to 4.93x (both run in turn, history by history).
        """
        found = 0
        for sid in _bits(bits):
            one = known.get(1 << sid)
            found |= self._closure_of_one(invoked, sid, known) if one is None else one
        known[bits] = found
        return found

    def _cover(self, sid: int) -> None:
        """Bring ``targets`` up to date for state ``sid`` (and any state before it not there yet)."""
        while len(self.targets) <= sid:
            self.targets.append((0, []))
        covered, listed = self.targets[sid]
        by_target = dict(listed)
        for k in range(covered, len(self.kind_calls)):
            t = self.moves.get((k, sid))
            if t is None:
                t = self._move((k, sid), self.kind_calls[k], sid, -1)
            if t >= 0:
                by_target[t] = by_target.get(t, 0) | 1 << k
        self.targets[sid] = (len(self.kind_calls), list(by_target.items()))

    def _closure_of_one(self, invoked: tuple[int, tuple[int, ...]], start: int, known: dict[int, int]) -> int:
        """:meth:`closure` of state ``start`` alone: the states reached by a walk that takes in the closures
        already in ``known`` instead of walking on from them."""
        mask, counts = invoked
        moves, states, once_calls, targets = self.moves, self.states, self.once_calls, self.targets
        found, todo = 1 << start, [start]
        while todo:
            sid = todo.pop()
            if sid >= len(targets) or targets[sid][0] < len(self.kind_calls):
                self._cover(sid)
            for t, kinds in targets[sid][1]:
                if kinds & mask and not found >> t & 1:
                    one = known.get(1 << t)
                    if one is None:
                        found |= 1 << t
                        todo.append(t)
                    else:
                        found |= one
            uses = states[sid][1]
            for q, n in enumerate(counts):
                if uses[q] < n:  # a call of the kind that has not taken effect is invoked
                    t = moves.get((-1 - q, sid))
                    if t is None:
                        t = self._move((-1 - q, sid), once_calls[q], sid, q)
                    if t >= 0 and not found >> t & 1:
                        one = known.get(1 << t)
                        if one is None:
                            found |= 1 << t
                            todo.append(t)
                        else:
                            found |= one
        known[1 << start] = found
        return found


def _first_open(mask: int) -> int:
    """The lowest bit not in ``mask``."""
    return (~mask & (mask + 1)).bit_length() - 1


def _frontier_of(ok_calls: list[Call], mask: int) -> float:
    """The completion of the first of ``ok_calls`` (sorted by completion) not in ``mask``: no call invoked after
    it can be linearized before it (+infinity when all are in)."""
    first = _first_open(mask)
    return ok_calls[first].complete if first < len(ok_calls) else INF


def _search_reusable(calls: list[Call], model: Model, initial: Hashable, budget: _Budget,
                     witness: list[tuple[Call, float]] | None = None,
                     once: frozenset[tuple[str, Hashable, Hashable]] = frozenset(),
                     tables: dict[tuple[tuple[str, Hashable, Hashable], ...], _Transitions] | None = None,
                     ) -> Outcome:
    """:func:`search` with ``reusable=True``: indeterminate calls may take effect any number of times.

    They then only say which states the object can move to once they are invoked, so a configuration
    is the set of ok ops linearized and the set of states it may be in (the states reachable with the
    indeterminate calls invoked so far folded in). States are numbered and sets of them are bitmasks.

    The indeterminate calls of the kinds ``once`` (kind, argument, new value) take effect at most once each, as
    in the exact search: a state is then the object's state with how many calls of each such kind took effect
    (always the earliest invoked ones: any later one could be swapped for them). With every kind there it is the
    exact search; ``invalid`` with any ``once`` proves ``invalid``.

    When the result is ``valid`` and ``witness`` is a list, it receives one linearization: each ok call
    with its completion, and each indeterminate move as the first call (by invoke) of its kind with the
    latest invoke the move allows (the completion of the first ok call after it).

    The moves between sets of states come from a :class:`_Transitions` for ``once``, taken from ``tables`` (by
    its ``counted``) and left there when it is a dict: the searches of one shrinking share them. On 100 generated
    invalid 90-op histories (one core, best of 5 each) decisions and shrinking took 205 ms instead of 231 with the
    same counterexamples, and 271-280 ms with a table per search: what the sharing saves is the point.
    """
    ok_calls = sorted((c for c in calls if c.definite), key=lambda c: c.complete)  # bit i: i-th to complete
    invoked_by = _invoked_by(ok_calls)
    maybe = _first_of_each_kind([c for c in calls if not c.definite], once)
    invokes = [c.invoke for c in maybe]
    counted = tuple(sorted(once, key=repr))  # the kinds whose uses a state counts, in its tuple of counts

    explored: dict[int, int] = {}
    trail: list[tuple[int, int]] = []  # per configuration explored: (its parent's place here, the call added)
    table = tables.get(counted) if tables is not None else None
    if table is None:
        table = _Transitions(model, initial, counted)
        if tables is not None:
            tables[counted] = table
    invoked_at = table.invoked(maybe)
    steps_of = [table.steps_of((c.kind, c.arg, c.new)) for c in ok_calls]
    # What is invoked, and its closures, once the first f of ok_calls are in (the frontier is the next one's
    # completion), for each f.
    invoked_when = [invoked_at[bisect.bisect_right(invokes, c.complete)] for c in ok_calls] + [invoked_at[-1]]
    closures_when = [table.closures_of(invoked) for invoked in invoked_when]
    table_step, table_closure = table.step, table.closure

    def grow(bits: int, first: int) -> int:
        """``bits`` with the states the indeterminate calls invoked by then reach, once the ok calls before the
        ``first`` not in are in."""
        known = closures_when[first]
        found = known.get(bits)
        return table_closure(invoked_when[first], bits, known) if found is None else found

    # A configuration waits in ``todo`` with the states its last ok call leaves, grown once it is taken out:
    # the search stops at the first complete one, so many are never taken out.
    todo = [(0, 1 << table.start, -1, -1)]
    steps, last = 0, len(ok_calls)
    while todo:
        mask, bits, parent, added = todo.pop()
        first = _first_open(mask)
        if first == last:
            if witness is not None:
                order = []
                while added >= 0:
                    order.append(added)
                    parent, added = trail[parent] if parent >= 0 else (-1, -1)
                witness.extend(_linearization(table, ok_calls, maybe, order[::-1], grow))
            return Outcome(VALID, steps, INF)
        grown = grow(bits, first)
        old = explored.get(mask, 0)
        fresh = grown & ~old
        if not fresh:
            continue
        explored[mask] = old | fresh
        here = len(trail)
        trail.append((parent, added))
        children = []
        for i in _bits(invoked_by[first] & ~mask):  # earliest deadline first
            steps += 1
            if steps % _CHECK_EVERY == 0 and budget.exhausted(steps):
                return Outcome(UNKNOWN, steps, INF)
            known = steps_of[i]
            out = known.get(fresh)
            if out is None:
                out = table_step(ok_calls[i], fresh, known)
            if out:
                children.append((mask | 1 << i, out, here, i))
        todo.extend(reversed(children))  # the first child is tried first
    return Outcome(INVALID, steps, INF)


def _linearization(table: _Transitions, ok_calls: list[Call], maybe: list[Call], order: list[int],
                   grow: Callable[[int, int], int]) -> list[tuple[Call, float]]:
    """The ok calls ``ok_calls`` (sorted by completion) in ``order`` (the path a reusable search found), with few
    moves of the indeterminate calls ``maybe`` between them: a breadth-first search over the states before each
    call. Few, because a move made twice with one indeterminate call would make a linearization the exact search
    does not allow. Each move is made by the first call (by invoke) that can make it.

    States and moves are the search's ``table``'s, so the witnesses of one shrinking share them too, and so do
    the sets of states the search's ``grow`` (states, first ok call not in) reaches: a walk stops once every state
    the call can leave has its path. On 100 generated invalid 90-op histories, with the same counterexamples,
    decisions and shrinking took 5.19-5.32x the decisions against 5.35-5.52x with states and moves of the witness's
    own, and 4.96x against 5.20x (run in turn, history by history) with walks that went on through every reachable
    state.
    """
    # For each call of ``maybe``: the key of its move in ``table.moves`` but for the state, and, for a counted
    # kind, its place in ``table.counted`` and its rank by invoke among the calls of its kind: it takes effect
    # only after all earlier ones did (-1 and 0 for a reusable kind).
    rank: dict[tuple[str, Hashable, Hashable], int] = {}
    counter: list[tuple[int, int, int]] = []
    for c in maybe:
        kind = (c.kind, c.arg, c.new)
        q = table.place.get(kind)
        if q is None:
            counter.append((table.kinds[kind], -1, 0))
        else:
            counter.append((-1 - q, q, rank.get(kind, 0)))
            rank[kind] = rank.get(kind, 0) + 1
    table_moves, states = table.moves, table.states
    moves: dict[int, list[tuple[int, int]]] = {}

    def moves_from(sid: int) -> list[tuple[int, int]]:
        """``(k, t)``: indeterminate call k is the first (by invoke) to move state ``sid`` to ``t``."""
        found = moves.get(sid)
        if found is None:
            first: dict[int, int] = {}
            uses = states[sid][1]
            for k, (move, q, r) in enumerate(counter):
                if q >= 0 and uses[q] != r:  # not the earliest of its kind that has not taken effect
                    continue
                t = table_moves.get((move, sid))
                if t is None:
                    t = table._move((move, sid), maybe[k], sid, q)
                if t >= 0 and t not in first:
                    first[t] = k
            found = moves[sid] = sorted((k, t) for t, k in first.items())
        return found

    invokes = [c.invoke for c in maybe]
    layer: dict[int, list[tuple[Call, float]]] = {table.start: []}  # state -> the calls reaching it
    mask = 0
    for i in order:
        bound = _frontier_of(ok_calls, mask)
        c = ok_calls[i]
        known = table.steps_of((c.kind, c.arg, c.new))
        bits = sum(1 << sid for sid in layer)
        grown = grow(bits, _first_open(mask))
        missing = known.get(grown)  # the states c can leave from some state reached: those without a path yet
        if missing is None:
            missing = table.step(c, grown, known)
        reached: dict[int, list[tuple[Call, float]]] = {}
        queue = sorted(layer, key=lambda sid: len(layer[sid]))
        for sid in queue:  # fewest moves first; the list grows while it is walked
            after = known.get(1 << sid)
            if after is None:
                after = table.step(c, 1 << sid, known)
            if after:
                t = after.bit_length() - 1
                if t not in reached:
                    reached[t] = [*layer[sid], (c, c.complete)]
                    missing &= ~after
                    if not missing:
                        break
            for k, t in moves_from(sid):
                if invokes[k] > bound:
                    break
                if t not in layer:
                    layer[t] = [*layer[sid], (maybe[k], bound)]
                    queue.append(t)
        layer, mask = reached, mask | 1 << i
    return min(layer.values(), key=len)


def _invoked_by(ok_calls: list[Call]) -> list[int]:
    """For each call of ``ok_calls`` (sorted by completion), the bits of those invoked by its completion
    (ties count as concurrent)."""
    by_invoke = sorted(range(len(ok_calls)), key=lambda i: ok_calls[i].invoke)
    invokes = [ok_calls[i].invoke for i in by_invoke]
    prefix = [0]
    for i in by_invoke:
        prefix.append(prefix[-1] | 1 << i)
    return [prefix[bisect.bisect_right(invokes, c.complete)] for c in ok_calls]


def _bits(bits: int) -> Iterator[int]:
    """The positions of the set bits of ``bits``."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def _first_of_each_kind(calls: list[Call], once: frozenset[tuple[str, Hashable, Hashable]] = frozenset()) -> list[Call]:
    """``calls`` by invoke, without the reusable indeterminate calls that an earlier-invoked identical one makes
    redundant (those of the kinds ``once`` all kept)."""
    seen: set[tuple[str, Hashable, Hashable]] = set()
    out = []
    for c in sorted(calls, key=lambda c: c.invoke):
        if not c.definite:
            sig = (c.kind, c.arg, c.new)
            if sig in seen and sig not in once:
                continue
            seen.add(sig)
        out.append(c)
    return out


def _lift(nxt: list[int], prv: list[int], e: int, with_return: bool) -> None:
    """Unlink call entry ``e`` and, if it has one, its return entry ``e + 1``."""
    for x in (e, e + 1) if with_return else (e,):
        p, q = prv[x], nxt[x]
        nxt[p] = q
        if q != -1:
            prv[q] = p


def _unlift(nxt: list[int], prv: list[int], e: int, with_return: bool) -> None:
    """Undo :func:`_lift` (return entry first, then the call entry)."""
    for x in (e + 1, e) if with_return else (e,):
        nxt[prv[x]] = x
        if nxt[x] != -1:
            prv[nxt[x]] = x


def _unwritten_values(calls: list[Call], initial: Hashable) -> Failure | None:
    """Cheap pre-check: an ok read or cas needing a value nobody wrote can never linearize."""
    written = {initial}
    for c in calls:
        if c.kind == WRITE:
            written.add(c.arg)
        elif c.kind == CAS:
            written.add(c.new)
    for c in calls:
        if c.definite and c.kind in (READ, CAS) and c.arg not in written:
            return _unwritten(c, [])
    return None


def _prefix(calls: list[Call], model: Model, cutoff: float) -> list[Call]:
    """The history as seen at ``cutoff``: later invokes dropped, still-running ops relaxed."""
    out: list[Call] = []
    for c in calls:
        if c.invoke > cutoff:
            continue
        if c.complete > cutoff:
            c = model.relax(c) if c.definite else c
            if c is None:
                continue
        out.append(c)
    return out


class _Shrinker:
    """The trials of one minimisation of a non-linearizable history ``current``: relaxing some of its ok ops
    to indeterminate, kept when the history stays non-linearizable.

    A trial is decided by the reusable-indeterminate search (its "invalid" proves invalid), or exactly when
    asked: by the reusable search's own linearization when no indeterminate call takes effect twice in it
    (:func:`_overused_kinds`), else by :meth:`_exact`. ``undecided`` remembers that a search ran out of budget.
    """

    def __init__(self, current: dict[int, Call], model: Model, initial: Hashable, budget: _Budget) -> None:
        self.current, self.model, self.initial, self.budget = current, model, initial, budget
        self.searches = 0
        self.exact_searches = 0
        self.undecided = False
        self.reusable = True  # False: the exact search decides every trial (see :func:`_shrink`)
        self.path = "guess"  # how the counterexample was found, for its details
        self._whole_proven: bool | None = None
        self.once_kinds: set[tuple[str, Hashable, Hashable]] = set()  # see :meth:`_exact`
        self.tables: dict[tuple[tuple[str, Hashable, Hashable], ...], _Transitions] = {}  # its searches share them
        # The ok ops an exact trial relaxing only them found linearizable: needed, and they stay needed as other
        # ops are relaxed, so :func:`_confirm_needed` need not try them again.
        self.needed: set[int] = set()

    def relax(self, indices: list[int], *, exact: bool = False,
              witness: list[tuple[Call, float]] | None = None) -> bool:
        """Relax the ok ops ``indices`` if the history stays non-linearizable; whether it did. When it would
        not, ``witness`` (a list) receives the linearization the search found."""
        trial = _relaxed(self.current, indices, self.model)
        exact = exact or not self.reusable
        status = self._status(trial, exact=exact, witness=witness)
        if status != INVALID:
            if exact and status == VALID and len(indices) == 1:
                self.needed.add(indices[0])
            return False
        self.current = trial
        return True

    def whole_proven_by_reusable(self) -> bool:
        """Whether the reusable search finds ``current``, as it was when first asked, non-linearizable (searched
        once)."""
        if self._whole_proven is None:
            self._whole_proven = self._status(self.current, exact=False, witness=None) == INVALID
        return self._whole_proven

    def _status(self, calls: dict[int, Call], *, exact: bool, witness: list[tuple[Call, float]] | None) -> str:
        self.searches += 1
        ordered = sorted(calls.values(), key=lambda c: c.invoke)
        if exact and not self.reusable:
            status = self._exact(ordered, witness)
        else:
            if exact and witness is None:
                witness = []
            status = _search_reusable(ordered, self.model, self.initial, self.budget, witness,
                                      tables=self.tables).status
            if exact and status == VALID:
                # The exact search is needed only when the reusable witness takes effect twice with one
                # indeterminate call. Before this, exact searches were 60 % of the shrinking CPU on 100 generated
                # 90-op histories; the witness settles 96 % of these trials (it is not tried where the reusable
                # search cannot prove the whole history invalid: there it almost never settled one).
                overused = _overused_kinds(witness, ordered)
                if overused:
                    self.once_kinds |= overused
                    del witness[:]
                    status = self._exact(ordered, witness)
        if status == UNKNOWN:
            self.undecided = True
        return status

    def _exact(self, ordered: list[Call], witness: list[tuple[Call, float]] | None) -> str:
        """The exact verdict on ``ordered``, by searches that let every indeterminate call take effect any number
        of times but those of the kinds some earlier witness took effect with too often (``once_kinds``, learnt
        along the way): an ``invalid`` is exact, and so is a ``valid`` whose linearization needs no indeterminate
        call twice; else the kinds it overused take effect at most once from then on, and it searches again. When
        counting the uses of those kinds would take more than ``MAX_COUNTED_STATES`` ways per state, the exact
        search itself decides.

        On the generated histories where only the exact search can decide (an indeterminate write has to take
        effect twice for the reusable search's linearization), proving a trial non-linearizable with every
        relaxed op taking effect at most once was nearly all the shrinking time; a kind or two needs to.
        """
        while True:
            self.exact_searches += 1
            found: list[tuple[Call, float]] = []
            counts = Counter((c.kind, c.arg, c.new) for c in ordered if not c.definite)
            if math.prod(counts[kind] + 1 for kind in self.once_kinds) > MAX_COUNTED_STATES:
                status = search(ordered, self.model, self.initial, self.budget, witness=found).status
                if witness is not None:
                    witness.extend(found)
                return status
            status = _search_reusable(ordered, self.model, self.initial, self.budget, found,
                                      once=frozenset(self.once_kinds), tables=self.tables).status
            overused = _overused_kinds(found, ordered) if status == VALID else set()
            if not overused:
                if witness is not None:
                    witness.extend(found)
                return status
            self.once_kinds |= overused


def _overused_kinds(witness: list[tuple[Call, float]], calls: list[Call]) -> set[tuple[str, Hashable, Hashable]]:
    """The kinds of indeterminate call a linearization found with reusable calls takes effect with more often than
    ``calls`` allow: none when each of its indeterminate moves can be made by its own call of the same kind
    invoked by the move's deadline. Then the linearization is one where every indeterminate call takes effect at
    most once: the history is linearizable.

    The deadlines of the moves never decrease along the linearization and a move can use any call of its
    kind invoked by its deadline, so giving each move the earliest unused call of its kind is optimal.
    """
    invokes: dict[tuple[str, Hashable, Hashable], list[int]] = {}
    for c in calls:  # sorted by invoke
        if not c.definite:
            invokes.setdefault((c.kind, c.arg, c.new), []).append(c.invoke)
    used: dict[tuple[str, Hashable, Hashable], int] = {}
    overused = set()
    for c, deadline in witness:
        if c.definite:
            continue
        kind = (c.kind, c.arg, c.new)
        n = used.get(kind, 0)
        candidates = invokes[kind]
        if n >= len(candidates) or candidates[n] > deadline:
            overused.add(kind)
        used[kind] = n + 1
    return overused


def _relax_greedily(shrinker: _Shrinker, ops: list[int]) -> None:
    """Relax every op of ``ops`` that is not needed to keep ``shrinker.current`` non-linearizable (by the
    reusable search), given that relaxing all of ``ops`` would make it linearizable (if not, the last op is
    kept without a trial, and :func:`_confirm_needed` relaxes it).

    Delta debugging as a binary tree: ``ops`` is split in halves; if the first half can be relaxed it is, and
    relaxing the second must then make the history linearizable (no search needed), so only the second is
    split further; if not, the first is split in turn, then the second tried. A needed op costs about one
    search per halving, shared with the ops near it, and a run of unneeded ops goes in one search (100
    generated 90-op histories, all shrunk this way: 33 searches per counterexample, confirmation included,
    against 36 with the chunks of each size tried in turn as in ddmin). Relaxing an op only adds
    linearizations, so an op kept at some point is still needed at the end.
    """
    while len(ops) > 1:
        first, second = ops[:len(ops) // 2], ops[len(ops) // 2:]
        if not shrinker.relax(first):
            _relax_greedily(shrinker, first)
            if shrinker.relax(second):
                return
        ops = second


def _confirm_needed(shrinker: _Shrinker, proven: int | None) -> None:
    """Check with the exact search that relaxing any one remaining ok op (but ``proven`` and ``shrinker.needed``,
    known needed) makes the history linearizable, and relax any op that is not needed. One pass is enough: an op
    found needed stays needed when others are relaxed after it."""
    for c in sorted((c for c in shrinker.current.values() if c.definite), key=lambda c: c.invoke):
        if c.index != proven and c.index not in shrinker.needed:
            shrinker.relax([c.index], exact=True)


_NOTHING = object()  # a value no op reads or expects
MAX_GROWTHS = 6


def _grown_core(shrinker: _Shrinker, ok: list[Call], culprit: Call) -> set[int] | None:
    """A set of ok ops (``culprit`` among them) that stays non-linearizable with every other ok op relaxed, the
    other ops relaxed in ``shrinker.current``; None if none was found in ``MAX_GROWTHS`` trials.

    The first guess: the culprit, the ok ops that write the value it reads or expects (a stale read or cas of
    ``v`` is explained away by any one writer of ``v`` taking effect late, so all of them are in its
    counterexample) and the three ok ops that completed last before it. When relaxing everything else lets
    the search find a linearization, the guess grows by the relaxed ops that linearization leans on — those
    doing what one of its indeterminate moves does (by the exact search: the very ops it linearized) — or,
    when it leans on none, by twice as many of the last ops. The exact search's guess grows by both at once,
    since its linearizations lean on few ops and its trials are dear. After one failed trial of the reusable
    search's guess, the reusable search is asked about the whole history; if even that is linearizable to it,
    the guess starts again with the exact search.

    On 100 generated 90-op histories the median counterexample's oldest op was the 25th of 30 ok ops counted
    back from the culprit, so a window of last ops alone grew big; growing by what the linearizations lean on
    found all 100 counterexamples (8 by the exact search) in guesses a median 1.5 times their size, where
    growing by last ops alone had left 25 to delta debugging over all ok ops (17 of them at 14-40 times the
    decision search; `python benchmarks/bench_check_history.py`, 2026-12-01).
    """
    needs = culprit.arg if culprit.kind in (READ, CAS) else _NOTHING
    keep = {culprit.index} | {c.index for c in ok if (c.kind == WRITE and c.arg == needs)
                              or (c.kind == CAS and c.new == needs)}
    last = sorted((c for c in ok if c.index not in keep), key=lambda c: c.complete, reverse=True)
    r = 3
    keep |= {c.index for c in last[:r]}
    first_guess = set(keep)
    ok_indices = {c.index for c in ok}
    growths = 0
    while growths < MAX_GROWTHS:
        growths += 1
        witness: list[tuple[Call, float]] = []
        if shrinker.relax([c.index for c in ok if c.index not in keep], witness=witness):
            return keep
        if shrinker.reusable and not shrinker.whole_proven_by_reusable():
            # No guess the reusable search decides can succeed when it cannot prove the whole history either:
            # grow again with the exact search from the first guess (guess-exact histories had spent 6 such
            # trials, 3-5x their decision time, before finding that out).
            shrinker.reusable, shrinker.path = False, "guess-exact"
            keep, r, growths = set(first_guess), 3, 0
            continue
        if shrinker.reusable:  # a move is made by the first indeterminate call of its kind: any of them will do
            leaned_on = {(c.kind, c.arg, c.new) for c, _ in witness if not c.definite}
            more = {c.index for c in ok if c.index not in keep and (c.kind, c.arg, c.new) in leaned_on}
        else:
            more = {c.index for c, _ in witness if not c.definite} & (ok_indices - keep)
        if not more or not shrinker.reusable:
            r *= 2
            more |= {c.index for c in last[:r]} - keep
        if not more:
            return None
        keep |= more
    return None


def _shrink(shrinker: _Shrinker, culprit: Call | None) -> None:
    """Relax every ok op of ``shrinker.current`` not needed to keep it non-linearizable.

    First a guess grown from the culprit, the op at whose completion the decision search got stuck
    (:func:`_grown_core`): relaxing every op outside it leaves a handful of ok ops, each then tried once with
    the exact search (swept: the guesses are dense in needed ops), and the culprit is needed (relaxing it gives
    back the prefix the search got past). Where the reusable search cannot even prove the whole history
    non-linearizable (an indeterminate op would have to take effect twice) the exact search decides every
    trial, the guess's too. Without a culprit or a guess, delta debugging over all ok ops
    (:func:`_relax_greedily`).
    """
    ok = [c for c in shrinker.current.values() if c.definite]
    keep = None if culprit is None else _grown_core(shrinker, ok, culprit)
    if keep is None and shrinker.reusable:  # (the guess may have gone exact already)
        shrinker.reusable = shrinker.whole_proven_by_reusable()
        if culprit is not None and not shrinker.reusable:
            shrinker.path = "guess-exact"
            keep = _grown_core(shrinker, ok, culprit)
    if keep is not None:
        if len(keep) > SWEEP_MAX_OPS:
            _relax_greedily(shrinker, sorted(keep - {culprit.index}))
        _confirm_needed(shrinker, culprit.index)
        return
    shrinker.path = "bisect" if shrinker.reusable else "bisect-exact"
    _relax_greedily(shrinker, [c.index for c in ok])
    _confirm_needed(shrinker, None if culprit is None else culprit.index)


def _relaxed(current: dict[int, Call], indices: list[int], model: Model) -> dict[int, Call]:
    """A copy of ``current`` with the calls ``indices`` made indeterminate (or dropped)."""
    trial = dict(current)
    for i in indices:
        relaxed = model.relax(trial.pop(i))
        if relaxed is not None:
            trial[i] = relaxed
    return trial


def minimize(calls: list[Call], model: Model, initial: Hashable, deadline: float, frontier: float) -> Failure:
    """A minimal sound counterexample for a key the search found non-linearizable at ``frontier``.

    The history is cut at ``frontier`` (the decision search's own shortest non-linearizable prefix),
    then ok ops are relaxed (:func:`_shrink`), and every op left ok is finally checked exactly: relaxing
    it makes the prefix linearizable.
    ``minimal`` in the details is False only when a search ran out of budget; ``shrunk_by`` says which way
    the ops were relaxed (``guess`` or ``bisect``; ``guess-exact`` or ``bisect-exact`` when every trial needed the
    exact search).
    """
    budget = _Budget(deadline, MINIMIZE_STEPS)
    at_frontier = [c for c in calls if c.definite and c.complete == frontier]
    culprit = at_frontier[0] if at_frontier else None
    sub = _prefix(calls, model, frontier)
    shrinker = _Shrinker({c.index: c for c in sub}, model, initial, budget)
    small = len(sub) <= MINIMIZE_MAX_OPS
    if small:
        _shrink(shrinker, culprit if len(at_frontier) == 1 else None)
    current = shrinker.current
    minimized = small and not shrinker.undecided
    core_calls = sorted((c for c in current.values() if c.definite), key=lambda c: c.invoke)
    core = sorted(c.index for c in core_calls)
    at = f" once op {culprit.index} completed" if culprit else ""
    return Failure(
        "not-linearizable",
        f"no linearization exists{at}; even with all other ops indeterminate, ops {core} conflict",
        core,
        {"culprit": culprit.index if culprit else None, "indeterminate_ops": len(current) - len(core),
         "minimal": minimized, "searches": shrinker.searches, "exact_searches": shrinker.exact_searches,
         "shrunk_by": shrinker.path,
         "core": [describe(c) for c in core_calls]},
    )


def check_search(calls: list[Call], model: Model, initial: Hashable, budget: _Budget,
                 minimize_s: float = DEFAULT_MINIMIZE_S) -> KeyResult:
    """The general search for one key, with a shrunk counterexample when it fails."""
    failure = _unwritten_values(calls, initial)
    if failure:
        return KeyResult(INVALID, "precheck", failure)
    calls = sorted(calls, key=lambda c: c.invoke)
    status, steps, frontier = search(calls, model, initial, budget)
    if status == UNKNOWN:
        return KeyResult(UNKNOWN, "search", None, f"search budget exhausted after {steps} steps", steps)
    if status == VALID:
        return KeyResult(VALID, "search", steps=steps)
    now = time.monotonic()
    failure = minimize(calls, model, initial, max(min(now + minimize_s, budget.deadline), now + MINIMIZE_FLOOR_S),
                       frontier)
    return KeyResult(INVALID, "search", failure, steps=steps)


# --------------------------------------------------------------------------------------------
# Entry point


def partition(ops: Iterable[Op], model: Model) -> dict[str, list[Call]]:
    """Prepared calls per key, in history order; ``fail`` ops are dropped."""
    by_key: dict[str, list[Call]] = {}
    prepare = model.prepare
    for op in ops:
        if op.type == FAIL:
            continue
        call = prepare(op)
        if call is None:
            continue
        calls = by_key.get(op.key)
        if calls is None:
            by_key[op.key] = [call]
        else:
            calls.append(call)
    return by_key


def check_linearizable(
    ops: Iterable[Op],
    model: str | Model = "cas-register",
    initial: Any = None,
    time_limit_s: float = 10.0,
    *,
    initial_by_key: Mapping[str, Any] | None = None,
    max_steps: int | None = None,
    fast_path: bool = True,
    minimize_s: float = DEFAULT_MINIMIZE_S,
    stats: dict[str, Any] | None = None,
) -> Verdict:
    """Check that ``ops`` are linearizable with respect to ``model``, key by key.

    Pass one workload's ops (see ``harness.history.events.ops_by_workload``): keys are not qualified
    by workload. ``initial`` is every key's initial state (``None`` = absent item) unless ``initial_by_key``
    names one. ``time_limit_s`` bounds the whole check and ``max_steps`` each key's search;
    keys that run out of budget make the verdict ``unknown``. ``fast_path=False`` forces the
    general search. A key the search finds non-linearizable gets up to ``minimize_s`` seconds
    (within the time limit, but at least a quarter second) to shrink its counterexample.
    If ``stats`` is a dict it receives counts of keys by method and status.
    """
    with gc_paused():
        results = _check_keys(ops, get_model(model), initial, initial_by_key,
                              _Budget(time.monotonic() + time_limit_s, max_steps), fast_path, minimize_s)
    verdict = Verdict()
    _report(verdict, results)
    if stats is not None:
        _fill_stats(stats, results)
    return verdict


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: the checker allocates millions of acyclic tuples, and full
    collections over a large live history would otherwise dominate the run time. (Reading a
    history is the same: `stress check-history` reads under it too.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_keys(ops: Iterable[Op], m: Model, initial: Any, initial_by_key: Mapping[str, Any] | None,
                budget: _Budget, fast_path: bool, minimize_s: float) -> dict[str, KeyResult]:
    """Fast path for every key, then the search (smallest keys first) for the undecided ones."""
    results: dict[str, KeyResult] = {}
    pending: list[tuple[str, list[Call], Hashable]] = []
    for key, calls in partition(ops, m).items():
        init = m.init(initial_by_key[key] if initial_by_key and key in initial_by_key else initial)
        result = check_chain(calls, init) if fast_path else None
        if result is None:
            pending.append((key, calls, init))
        else:
            results[key] = result
    for key, calls, init in sorted(pending, key=lambda p: len(p[1])):
        results[key] = check_search(calls, m, init, budget, minimize_s)
    return results


def _report(verdict: Verdict, results: Mapping[str, KeyResult]) -> None:
    unknown = [(key, r) for key, r in results.items() if r.status == UNKNOWN]
    for key, r in results.items():
        if r.failure is not None:
            f = r.failure
            verdict.fail(f.kind, key, f.message, f.ops, **_plain(f.details))
    for key, r in unknown[:MAX_UNKNOWN_MESSAGES]:
        verdict.undecided(f"key {key}: {r.reason}")
    if len(unknown) > MAX_UNKNOWN_MESSAGES:
        verdict.undecided(f"... and {len(unknown) - MAX_UNKNOWN_MESSAGES} more keys undecided")


def _fill_stats(stats: dict[str, Any], results: Mapping[str, KeyResult]) -> None:
    stats["keys"] = len(results)
    stats["search_steps"] = sum(r.steps for r in results.values())
    for r in results.values():
        name = f"{r.method}_{r.status}"
        stats[name] = stats.get(name, 0) + 1


def _plain(value: Any) -> Any:
    """Frozen values back to plain JSON (for violation details)."""
    if isinstance(value, FrozenDict):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    return value


def _show(value: Hashable) -> str:
    return repr(_plain(value))
