"""Shrinking a non-linearizable key's history to a minimal counterexample: ok ops relaxed to indeterminate
while the history stays non-linearizable (a guess grown from the culprit, else delta debugging), each
op left ok proven needed by the exact search."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable

from harness.checker.linearizability.model import CAS, READ, WRITE, Call, Model
from harness.checker.linearizability.results import Failure, describe
from harness.checker.linearizability.search import Budget, Transitions, search, search_reusable
from harness.checker.verdict import INVALID, UNKNOWN, VALID

MINIMIZE_MAX_OPS = 2000
SWEEP_MAX_OPS = 40  # a guess up to this size is swept op by op, a bigger one bisected first (see _shrink)
MINIMIZE_STEPS = 200_000
# Ways to count the uses of the kinds that take effect once, per state (see _Shrinker._exact). 16, not 8, since
# those searches share their transitions: 203-206 ms against 219 on 100 generated invalid 90-op histories.
MAX_COUNTED_STATES = 16


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

    def __init__(self, current: dict[int, Call], model: Model, initial: Hashable, budget: Budget) -> None:
        self.current, self.model, self.initial, self.budget = current, model, initial, budget
        self.searches = 0
        self.exact_searches = 0
        self.undecided = False
        self.reusable = True  # False: the exact search decides every trial (see :func:`_shrink`)
        self.path = "guess"  # how the counterexample was found, for its details
        self._whole_proven: bool | None = None
        self.once_kinds: set[tuple[str, Hashable, Hashable]] = set()  # see :meth:`_exact`
        self.tables: dict[tuple[tuple[str, Hashable, Hashable], ...], Transitions] = {}  # its searches share them
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
        if self.budget.exhausted(0):
            # A search looks at the clock every _CHECK_EVERY steps, and a trial on a small core takes fewer: without
            # this, a 200-op txn history's minimisation, given 2 s, took 6.5 s (450 trials, most too short to look).
            self.undecided = True
            return UNKNOWN
        self.searches += 1
        ordered = sorted(calls.values(), key=lambda c: c.invoke)
        if exact and not self.reusable:
            status = self._exact(ordered, witness)
        else:
            if exact and witness is None:
                witness = []
            status = search_reusable(ordered, self.model, self.initial, self.budget, witness,
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
            status = search_reusable(ordered, self.model, self.initial, self.budget, found,
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
    budget = Budget(deadline, MINIMIZE_STEPS)
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

