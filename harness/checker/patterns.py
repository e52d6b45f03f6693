"""Checkers for the concurrency patterns people build on conditional writes (no SDK, no network).

Each takes the ops of a history (``harness.history.events.Op``, as ``harness.testing`` records the calls of a
user's functions: ``f`` is the function's name, ``key`` what it acted on, ``value`` its arguments by parameter
name, ``result`` its return value) and returns a :class:`Verdict`:

* :func:`unique_claim` — exactly one call wins (returns) per key;
* :func:`mutual_exclusion` — lock or lease holders never overlap;
* :func:`unique_sequence` — a counter or auto-increment never hands out a value twice (gaps reported apart);
* :func:`versioned_update` — optimistic locking: each successful save moves v → v+1, no two from the same v,
  and the final version counts every successful save.

A call that raised is ``fail`` (it did not win, acquire or save); one that raised a timeout-like error is
``info``: it may or may not have taken effect, and no checker blames the server for what it might have done.
:func:`check_all` runs the JSON specs a run directory keeps in run.json (``config["checks"]``), so
`stress check` reaches the verdict the test's assertion did.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from harness.checker.verdict import Verdict
from harness.history.events import INFO, OK, Op

UNIQUE_CLAIM = "unique-claim"
MUTUAL_EXCLUSION = "mutual-exclusion"
UNIQUE_SEQUENCE = "unique-sequence"
VERSIONED_UPDATE = "versioned-update"
MAX_VIOLATIONS = 20  # per check: the first ones make the point, thousands would bury it


def _selected(ops: Iterable[Op], f: str | None) -> list[Op]:
    """The ops of function ``f`` (every op when None), in history order."""
    return [op for op in ops if f is None or op.f == f]


def _by_key(ops: Iterable[Op]) -> dict[str, list[Op]]:
    grouped: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        grouped[str(op.key)].append(op)
    return grouped


def _capped(verdict: Verdict, found: int, what: str) -> None:
    """Say how many violations were left out when more than MAX_VIOLATIONS were found."""
    if found > MAX_VIOLATIONS:
        verdict.undecided(f"{found - MAX_VIOLATIONS} more {what} not listed")


# ----- unique claim ------------------------------------------------------------------------------------------

def unique_claim(ops: Iterable[Op], f: str | None = None, *, per_key: bool = True) -> Verdict:
    """Exactly one ``ok`` call per key (over all calls when ``per_key`` is False).

    No winner is a violation too, unless an indeterminate call may have been the winner.
    """
    verdict = Verdict()
    selected = _selected(ops, f)
    groups = _by_key(selected) if per_key else {"(all calls)": selected}
    for key, group in groups.items():
        winners = [op for op in group if op.type == OK]
        unsure = [op for op in group if op.type == INFO]
        if len(winners) > 1:
            verdict.fail("multiple-winners", key, f"expected exactly one winner out of {len(group)} calls on "
                         f"{key!r}, got {len(winners)} (workers {[op.process for op in winners][:20]})",
                         [op.index for op in winners], winners=len(winners), calls=len(group))
        elif not winners and unsure:
            verdict.undecided(f"{key}: no call won, but {len(unsure)} ended indeterminate (one may have won)")
        elif not winners:
            verdict.fail("no-winner", key, f"expected exactly one winner out of {len(group)} calls on {key!r}, "
                         "got 0", [op.index for op in group[:5]], winners=0, calls=len(group))
    return verdict


# ----- mutual exclusion --------------------------------------------------------------------------------------

Holding = tuple[float, float, Op]  # start, end (monotonic ns), the acquire call


LeaseEnd = Callable[[Op], float | None]  # an acquire call → when its lease ends (monotonic ns), None: unknown


def holdings(ops: Iterable[Op], acquire: str, release: str | None, lease_s: float | None,
             lease_end: LeaseEnd | None = None) -> list[Holding]:
    """(start, end, acquire op) of every time a caller held a lock, in monotonic ns.

    A holding starts when its ``acquire`` call returned (the caller may act from then on) and ends at the
    earliest of: the caller's next ``release`` of that key (when it was invoked: the caller stops relying on
    the lock then) and the lease's end, counted from the acquire's *invoke* — the lease cannot have started
    earlier, so a holder past that point is not protected any more and a new holder is no violation. A caller
    that knows its lease's end on the history's clock (a lock item's expiry time) passes ``lease_end``: it
    wins over ``lease_s`` for every acquire it answers for.
    """
    lease_ns = None if lease_s is None else lease_s * 1e9
    found = []
    mine: dict[tuple[Any, str], list[Op]] = defaultdict(list)  # (process, key) → its acquire/release calls
    for op in ops:
        if op.f == acquire or (release is not None and op.f == release):
            mine[(op.process, str(op.key))].append(op)
    for calls in mine.values():
        calls.sort(key=lambda op: op.invoke_time)
        for position, op in enumerate(calls):
            if op.f != acquire or op.type != OK or op.complete_time is None:
                continue  # a failed or indeterminate acquire: the caller never believed it held the lock
            known = lease_end(op) if lease_end is not None else None
            end = known if known is not None else (math.inf if lease_ns is None else op.invoke_time + lease_ns)
            later_release = next((o for o in calls[position + 1:] if o.f == release), None)
            if later_release is not None:
                end = min(end, later_release.invoke_time)
            if end > op.complete_time:
                found.append((float(op.complete_time), end, op))
    return found


def mutual_exclusion(ops: Iterable[Op], acquire: str, release: str | None = None,
                     lease_s: float | None = None, *, lease_end: LeaseEnd | None = None) -> Verdict:
    """No two callers hold a key's lock at one instant (see :func:`holdings` for when a caller holds it, and
    for ``lease_end``).

    Touching intervals (one ends the nanosecond the other starts) do not overlap: clock granularity must
    not raise a false alarm.
    """
    verdict = Verdict()
    ops = list(ops)
    if not any(op.f == acquire for op in ops):
        verdict.undecided(f"no call of {acquire!r} was recorded")
        return verdict
    by_key: dict[str, list[Holding]] = defaultdict(list)
    for holding in holdings(ops, acquire, release, lease_s, lease_end):
        by_key[str(holding[2].key)].append(holding)
    found = 0
    for key, spans in by_key.items():
        spans.sort(key=lambda span: span[0])
        active: list[Holding] = []
        for start, end, op in spans:
            active = [span for span in active if span[1] > start]
            for _, other_end, other in active:
                if other.process == op.process:
                    continue  # the same caller twice (re-entrant): it does not exclude itself
                found += 1
                if found <= MAX_VIOLATIONS:
                    overlap_ms = (min(end, other_end) - start) / 1e6
                    verdict.fail("overlapping-holders", key,
                                 f"workers {other.process} and {op.process} both held {key!r} for "
                                 f"{overlap_ms:.3f} ms" + _lease_words(lease_s, lease_end),
                                 [other.index, op.index], overlap_ms=round(overlap_ms, 3),
                                 holders=[other.result, op.result])
            active.append((start, end, op))
    _capped(verdict, found, "overlapping holders")
    return verdict


def _lease_words(lease_s: float | None, lease_end: LeaseEnd | None) -> str:
    if lease_end is not None:
        return " inside their leases"
    return "" if lease_s is None else f" inside a {lease_s:g} s lease"


# ----- unique sequence ---------------------------------------------------------------------------------------

def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def sequence_gaps(ops: Iterable[Op], f: str | None = None) -> dict[str, list[int]]:
    """Per key, the values between the smallest and largest handed out that no successful call returned."""
    gaps = {}
    for key, group in _by_key(_selected(ops, f)).items():
        values = {v for v in (_as_int(op.result) for op in group if op.type == OK) if v is not None}
        if values:
            missing = sorted(set(range(min(values), max(values) + 1)) - values)
            if missing:
                gaps[key] = missing
    return gaps


def unique_sequence(ops: Iterable[Op], f: str | None = None, *, allow_gaps: bool = True) -> Verdict:
    """No value returned by two successful calls on one key; gaps are violations only if ``allow_gaps`` is off
    (and then only beyond what failed or indeterminate calls might have used up)."""
    verdict = Verdict()
    selected = _selected(ops, f)
    found = 0
    for key, group in _by_key(selected).items():
        seen: dict[int, list[Op]] = defaultdict(list)
        for op in group:
            if op.type != OK:
                continue
            value = _as_int(op.result)
            if value is None:
                verdict.undecided(f"{key}: call {op.index} returned {op.result!r}, not a number")
                continue
            seen[value].append(op)
        for value, holders in sorted(seen.items()):
            if len(holders) > 1:
                found += 1
                if found <= MAX_VIOLATIONS:
                    verdict.fail("duplicate-value", key, f"{key!r}: value {value} was handed out {len(holders)} "
                                 f"times (workers {[op.process for op in holders][:20]})",
                                 [op.index for op in holders], value=value, times=len(holders))
    _capped(verdict, found, "duplicate values")
    if not allow_gaps:
        for key, missing in sequence_gaps(selected).items():
            spent = sum(1 for op in selected if str(op.key) == key and op.type != OK)
            if len(missing) > spent:
                verdict.fail("gap", key, f"{key!r}: {len(missing)} value(s) never handed out (first "
                             f"{missing[:10]}), more than the {spent} failed or indeterminate calls could "
                             "have used", [], missing=missing[:100])
    return verdict


# ----- versioned update --------------------------------------------------------------------------------------

def versioned_update(ops: Iterable[Op], f: str, version_arg: str, *, final_version: int | None = None,
                     initial_version: int | None = None) -> Verdict:
    """Optimistic locking on one item per key.

    ``f`` is the save function and ``version_arg`` the name of its parameter holding the version the save
    expects to replace. Successful saves must each start from a different version (two from the same v:
    one overwrote the other — a lost update), and one that returns an int must return v + 1. Given
    ``final_version`` (the version stored after the run, one key only), it must equal the initial version
    (``initial_version``, else the smallest expected) plus the number of successful saves, give or take
    the indeterminate ones.
    """
    verdict = Verdict()
    selected = _selected(ops, f)
    if not selected:
        verdict.undecided(f"no call of {f!r} was recorded")
        return verdict
    groups = _by_key(selected)
    found = 0
    for key, group in groups.items():
        starts: dict[int, list[Op]] = defaultdict(list)
        for op in group:
            if op.type != OK:
                continue
            expected = _as_int((op.value or {}).get(version_arg) if isinstance(op.value, dict) else None)
            if expected is None:
                verdict.undecided(f"{key}: call {op.index} has no numeric argument {version_arg!r}")
                continue
            starts[expected].append(op)
            returned = _as_int(op.result)
            if returned is not None and returned != expected + 1:
                verdict.fail("version-skip", key, f"{key!r}: a save from version {expected} returned version "
                             f"{returned}, not {expected + 1}", [op.index], expected=expected, returned=returned)
        for version, savers in sorted(starts.items()):
            if len(savers) > 1:
                found += 1
                if found <= MAX_VIOLATIONS:
                    verdict.fail("lost-update", key, f"{key!r}: {len(savers)} saves succeeded from version "
                                 f"{version} (workers {[op.process for op in savers][:20]}): all but one "
                                 "overwrote another's update", [op.index for op in savers], version=version)
        if final_version is not None and len(groups) == 1:
            _check_final(verdict, key, group, starts, final_version, initial_version)
    _capped(verdict, found, "lost updates")
    if final_version is not None and len(groups) > 1:
        verdict.undecided(f"final_version covers one key, but {f!r} saved {len(groups)} keys")
    return verdict


def _check_final(verdict: Verdict, key: str, group: list[Op], starts: dict[int, list[Op]], final_version: int,
                 initial_version: int | None) -> None:
    """The stored version must count every successful save (an indeterminate one may have applied too)."""
    saved = sum(len(savers) for savers in starts.values())
    unsure = sum(1 for op in group if op.type == INFO)
    initial = initial_version if initial_version is not None else min(starts, default=final_version)
    expected = initial + saved
    if expected <= final_version <= expected + unsure:
        return
    should = f"{expected}" + (f" (up to {expected + unsure})" if unsure else "")
    lost = f": {expected - final_version} update(s) lost" if final_version < expected else ""
    verdict.fail("final-version", key, f"{key!r}: {saved} saves succeeded from version {initial}, so the final "
                 f"version should be {should}, but it is {final_version}{lost}", [],
                 final_version=final_version, expected=expected)


# ----- the specs of a run directory --------------------------------------------------------------------------

CHECKS: dict[str, Callable[..., Verdict]] = {
    UNIQUE_CLAIM: unique_claim,
    MUTUAL_EXCLUSION: mutual_exclusion,
    UNIQUE_SEQUENCE: unique_sequence,
    VERSIONED_UPDATE: versioned_update,
}


def check_spec(ops: list[Op], spec: dict[str, Any]) -> Verdict:
    """Run one JSON spec ``{"pattern": name, **arguments}``; raises ValueError for an unknown pattern."""
    arguments = dict(spec)
    pattern = arguments.pop("pattern", None)
    if pattern not in CHECKS:
        raise ValueError(f"unknown check pattern {pattern!r}: choose one of {', '.join(CHECKS)}")
    return CHECKS[pattern](ops, **arguments)


def check_all(ops: list[Op], specs: Iterable[dict[str, Any]]) -> Verdict:
    """Every spec's violations and unknowns in one verdict (invalid beats unknown beats valid)."""
    combined = Verdict()
    for spec in specs:
        verdict = check_spec(ops, spec)
        for violation in verdict.violations:
            combined.fail(violation.kind, violation.key, f"{spec['pattern']}: {violation.message}", violation.ops,
                          **violation.details)
        for reason in verdict.unknowns:
            combined.undecided(f"{spec['pattern']}: {reason}")
    return combined
