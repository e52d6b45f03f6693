"""Checking a history key by key: the fast path where it applies, else the search, with a shrunk
counterexample for a key that fails; the verdict."""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from harness.checker.linearizability.chain import check_chain
from harness.checker.linearizability.model import CAS, READ, WRITE, Call, Model, get_model, plain
from harness.checker.linearizability.results import Failure, KeyResult, unwritten
from harness.checker.linearizability.search import Budget, Outcome, search, search_reusable
from harness.checker.linearizability.shrink import minimize
from harness.checker.verdict import INVALID, UNKNOWN, VALID, Verdict
from harness.history.events import FAIL, Op

MAX_UNKNOWN_MESSAGES = 20
DEFAULT_MINIMIZE_S = 2.0
MINIMIZE_FLOOR_S = 0.25
# The exact search's steps before the reusable one is asked (see _decide): 0.1-0.2 s here; the 90-op etcd-style
# histories of tests/jepsen_histories.py take at most 10,413 (600 of them, valid and invalid).
QUICK_STEPS = 100_000


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
                              Budget(time.monotonic() + time_limit_s, max_steps), fast_path, minimize_s)
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
                budget: Budget, fast_path: bool, minimize_s: float) -> dict[str, KeyResult]:
    """Fast path for every key, then the search for the undecided ones: every key's quick stages first (smallest
    keys first), then the keys still undecided, each with an equal share of the time left (a key that needs less
    leaves the rest to those after it).

    One hard key must not take the whole time limit from keys that are decided in milliseconds (and one of them
    invalid makes the verdict): in an export of an unsafe unique-email run, one group of 200 transactions took
    all of 60 s and left the two after it 1,024 steps each.
    """
    results: dict[str, KeyResult] = {}
    pending: list[tuple[str, list[Call], Hashable]] = []
    for key, calls in partition(ops, m).items():
        init = m.init(initial_by_key[key] if initial_by_key and key in initial_by_key else initial)
        result = check_chain(calls, init) if fast_path else None
        if result is None:
            pending.append((key, calls, init))
        else:
            results[key] = result
    hard: list[tuple[str, list[Call], Hashable, int]] = []
    for key, calls, init in sorted(pending, key=lambda p: len(p[1])):
        result = check_search(calls, m, init, budget, minimize_s, quick=True)
        if result.status == UNKNOWN and result.method == "search" and not budget.exhausted(0) \
                and not _quick_is_whole(budget):
            hard.append((key, calls, init, result.steps))
        else:
            results[key] = result
    for n, (key, calls, init, quick_steps) in enumerate(hard):
        share = (budget.deadline - time.monotonic()) / (len(hard) - n)
        result = check_search(calls, m, init, Budget(time.monotonic() + share, budget.max_steps), minimize_s,
                              quick=False)
        steps = result.steps + quick_steps
        results[key] = _exhausted(steps) if result.status == UNKNOWN else dataclasses.replace(result, steps=steps)
    return results


def _report(verdict: Verdict, results: Mapping[str, KeyResult]) -> None:
    unknown = [(key, r) for key, r in results.items() if r.status == UNKNOWN]
    for key, r in results.items():
        if r.failure is not None:
            f = r.failure
            verdict.fail(f.kind, key, f.message, f.ops, **plain(f.details))
    for key, r in unknown[:MAX_UNKNOWN_MESSAGES]:
        verdict.undecided(f"key {key}: {r.reason}" if key else r.reason)  # (one register: no key to name)
    if len(unknown) > MAX_UNKNOWN_MESSAGES:
        verdict.undecided(f"... and {len(unknown) - MAX_UNKNOWN_MESSAGES} more keys undecided")


def _fill_stats(stats: dict[str, Any], results: Mapping[str, KeyResult]) -> None:
    stats["keys"] = len(results)
    stats["search_steps"] = sum(r.steps for r in results.values())
    for r in results.values():
        name = f"{r.method}_{r.status}"
        stats[name] = stats.get(name, 0) + 1


def check_search(calls: list[Call], model: Model, initial: Hashable, budget: Budget,
                 minimize_s: float = DEFAULT_MINIMIZE_S, *, quick: bool) -> KeyResult:
    """The general search for one key, with a shrunk counterexample when it fails: its quick stages, or the exact
    search to the end of the budget (see :func:`_decide`)."""
    failure = _unwritten_values(calls, initial)
    if failure:
        return KeyResult(INVALID, "precheck", failure)
    calls = sorted(calls, key=lambda c: c.invoke)
    status, steps, frontier = _decide(calls, model, initial, budget, quick)
    if status == UNKNOWN:
        return _exhausted(steps)
    if status == VALID:
        return KeyResult(VALID, "search", steps=steps)
    now = time.monotonic()
    failure = minimize(calls, model, initial, max(min(now + minimize_s, budget.deadline), now + MINIMIZE_FLOOR_S),
                       frontier)
    return KeyResult(INVALID, "search", failure, steps=steps)


def _exhausted(steps: int) -> KeyResult:
    return KeyResult(UNKNOWN, "search", None, f"search budget exhausted after {steps} steps", steps)


def _quick_is_whole(budget: Budget) -> bool:
    """Whether a step cap this small makes the quick stages the whole search."""
    return budget.max_steps is not None and budget.max_steps <= QUICK_STEPS


def _decide(calls: list[Call], model: Model, initial: Hashable, budget: Budget, quick: bool) -> Outcome:
    """The verdict on ``calls`` (sorted by invoke). ``quick``: the quick stages, the exact search for
    ``QUICK_STEPS`` and, for a key it has not decided, the reusable search for as many, whose invalid is proof
    (unknown when neither decides; the exact search alone when the budget's step cap is that small). Else: the exact
    search to the end of the budget. Steps summed."""
    if not quick or _quick_is_whole(budget):
        return search(calls, model, initial, budget)
    capped = Budget(budget.deadline, QUICK_STEPS)
    first = search(calls, model, initial, capped)
    if first.status != UNKNOWN or budget.exhausted(0):
        return first
    # Hard for the exact search, which must try every set of indeterminate calls that may have taken effect before
    # it can say invalid: the reusable search, which lets each take effect any number of times, proves invalid
    # without that (five generated 500- and 1,000-op transaction histories over 2 registers, 10 % of their ops
    # timed out, that the exact search had not decided in 10 s, two of them not in 60: it proved them invalid in
    # 5-12 ms, in 1,500-5,000 of its steps). Only if it cannot in as many steps as the exact search had, the exact
    # search goes on to the end of the budget, in the second pass of _check_keys (starting over: the steps here
    # are a small part of it).
    reusable = search_reusable(calls, model, initial, capped)
    steps = first.steps + reusable.steps
    return (reusable if reusable.status == INVALID else first)._replace(steps=steps)


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
            return unwritten(c, [])
    return None

