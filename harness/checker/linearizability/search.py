"""The general search (Wing & Gong's backtracking with Lowe's memoisation, entries in a dancing-links list
as in Porcupine), and the over-approximation in which indeterminate calls may take effect any number of
times (:func:`search_reusable`), with the linearizations (witnesses) each finds."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Hashable, Iterator
from typing import NamedTuple

from harness.checker.linearizability.model import INF, Call, Model
from harness.checker.verdict import INVALID, UNKNOWN, VALID

_CHECK_EVERY = 1024


class Budget:
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


def search(calls: list[Call], model: Model, initial: Hashable, budget: Budget, *,
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
    completion of an ok call after it (see :func:`search_reusable` for the reusable one's).
    """
    if reusable:
        return search_reusable(calls, model, initial, budget, witness)
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


class OutOfTime(Exception):
    """A walk of :class:`Transitions` passed the deadline of the search that asked for it."""


class Transitions:
    """How sets of states move in the reusable search (:func:`search_reusable`) with the kinds ``counted``
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
        # The deadline of the search using the table (set by it): a long walk looks at the clock every _CHECK_EVERY
        # states it takes out, since one walk is not one step of the search. Without it, a 40-transaction
        # history's minimisation (every transaction ok, each writing two of 12 registers) ran 7.6 s over a 2 s
        # deadline in one search, walking the states its relaxed transactions reach.
        self.deadline = INF

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
        found, todo, walked = 1 << start, [start], 0
        while todo:
            walked += 1
            if walked % _CHECK_EVERY == 0 and time.monotonic() >= self.deadline:
                raise OutOfTime
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


def search_reusable(calls: list[Call], model: Model, initial: Hashable, budget: Budget,
                     witness: list[tuple[Call, float]] | None = None,
                     once: frozenset[tuple[str, Hashable, Hashable]] = frozenset(),
                     tables: dict[tuple[tuple[str, Hashable, Hashable], ...], Transitions] | None = None,
                     ) -> Outcome:
    """:func:`search` with ``reusable=True``: indeterminate calls may take effect any number of times.

    They then only say which states the object can move to once they are invoked, so a configuration
    is the set of ok ops linearized and the set of states it may be in (the states reachable with the
    indeterminate calls invoked so far folded in). States are numbered and sets of them are bitmasks.

    The indeterminate calls of the kinds ``once`` (kind, argument, new value) take effect at most once each, as
    in the exact search: a state is then the object's state with how many calls of each such kind took effect
    (always the earliest invoked ones: any later one could be swapped for them). With every kind there it is the
    exact search; ``invalid`` with any ``once`` proves ``invalid``.

    When the result is ``invalid``, the frontier is that of :func:`search`: the completion of the first ok call no
    configuration got past. When the result is ``valid`` and ``witness`` is a list, it receives one linearization:
    each ok call with its completion, and each indeterminate move as the first call (by invoke) of its kind with the
    latest invoke the move allows (the completion of the first ok call after it).

    The moves between sets of states come from a :class:`Transitions` for ``once``, taken from ``tables`` (by
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
        table = Transitions(model, initial, counted)
        if tables is not None:
            tables[counted] = table
    table.deadline = budget.deadline
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
    steps, last, furthest = 0, len(ok_calls), 0
    try:  # a walk of the table past the deadline (see Transitions.deadline) ends the search as a step cap does
        while todo:
            mask, bits, parent, added = todo.pop()
            first = _first_open(mask)
            if first > furthest:
                furthest = first
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
    except OutOfTime:
        return Outcome(UNKNOWN, steps, INF)
    # No configuration got past the ok call with the furthest deadline any reached: the prefix that ends at its
    # completion is not linearizable even with reusable calls, so not exactly either (the exact search's frontier).
    return Outcome(INVALID, steps, ok_calls[furthest].complete)


def _linearization(table: Transitions, ok_calls: list[Call], maybe: list[Call], order: list[int],
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


