"""The lease-lock checker: mutual exclusion with leases, and both conditions held by the server (no SDK).

The history (``workloads.lease_lock``) has three ops per lock key, each carrying the caller's token:

* ``acquire`` — value ``{"Owner": token, "Expires": E, "Now": now}``: a put of ``{LockId, Owner, Expires: E}`` if
  ``attribute_not_exists(LockId) OR Expires < :now``; result ``{"Owner", "replaced": the item it replaced}``.
* ``read`` — value ``{"Owner", "Expires"}``: a holder reading its lock (ConsistentRead); result: the Owner seen.
* ``release`` — value ``{"Owner"}``: a delete if ``Owner = :me``; result ``{"deleted": the item it deleted}``.

``E`` and ``now`` are on the history's own clock (``harness.history.events.time_ns``, monotonic, one machine),
so a lease's end and the ops' invoke/complete times compare directly. A correct server gives:

* **mutual exclusion** (``harness.checker.patterns.mutual_exclusion``): a holding runs from its acquire's
  completion to the earlier of its release's invoke and ``E``; two of them never overlap. An acquire that
  took over lock X needs ``X.Expires < now``, and ``now`` was read before the acquire was sent, so the new
  holding starts after X's lease ended: the check has no slack to tune.
* **the acquire's condition**: an acquire never replaces a lock whose ``Expires >= now``
  (``acquired-live-lock``), and a refusal never returns a lock that had run out (``refused-expired-lock``).
* **the release's condition**: a release never deletes another owner's lock (``released-anothers-lock``: the
  deleted item names someone else, or another acquire succeeded between this owner's acquire and its
  release, so this owner's item was gone), and never refuses the owner's own lock (``refused-own-release``).
* **a held lock stays held**: nothing replaces or deletes a lock inside its lease, so the holder's first
  release is not refused and its reads see itself while ``E`` has not come (``lock-lost-inside-lease``).
* **the final state**: the stored lock was written by an acquire that was not refused, and not released
  after an acknowledged acquire.

An indeterminate acquire (``info``) may or may not have written its lock, at any time from its invoke on: it
is never a holding (its caller did not act on it) and nothing that would need it to have applied, or not, is
concluded from it — it only answers for a stored or deleted item that carries its token.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

from harness.checker.patterns import mutual_exclusion
from harness.checker.verdict import Verdict
from harness.history.events import CONDITIONAL_FAILED, FAIL, OK, Op

ACQUIRE = "acquire"
RELEASE = "release"
READ = "read"


def owner(op: Op) -> str | None:
    """The token an op acts for (its value's Owner)."""
    value = op.value if isinstance(op.value, dict) else {}
    token = value.get("Owner")
    return token if isinstance(token, str) else None


def lease_end(op: Op) -> float | None:
    """When an acquire's lease ends (its Expires, history clock ns); None when the op does not say."""
    value = op.value if isinstance(op.value, dict) else {}
    expires = value.get("Expires")
    return float(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else None


def check_leases(ops: list[Op], final_state: dict[str, Any]) -> Verdict:
    """Every invariant of the module docstring over a lease-lock history and its final state."""
    verdict = mutual_exclusion(ops, ACQUIRE, RELEASE, lease_end=lease_end)
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.f in (ACQUIRE, RELEASE, READ):
            by_key[str(op.key)].append(op)
    for key, key_ops in sorted(by_key.items()):
        acquires = {token: op for op in key_ops if op.f == ACQUIRE and (token := owner(op))}
        _check_conditions(verdict, key, key_ops)
        _check_takeovers(verdict, key, key_ops, acquires)
        _check_held(verdict, key, key_ops, acquires)
        if key in final_state:
            _check_stored(verdict, key, final_state[key], key_ops, acquires)
        else:
            verdict.undecided(f"{key}: no final state recorded")
    return verdict


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_conditions(verdict: Verdict, key: str, ops: list[Op]) -> None:
    """What each op's own answer shows about its condition: the item it replaced, deleted or was refused by."""
    for op in ops:
        token, value = owner(op), op.value if isinstance(op.value, dict) else {}
        result = op.result if isinstance(op.result, dict) else {}
        if op.f == ACQUIRE and op.type == OK:
            replaced, now = result.get("replaced"), _number(value.get("Now"))
            if not isinstance(replaced, dict) or replaced.get("Owner") == token or now is None:
                continue  # nothing replaced, or its own earlier attempt (an SDK retry resolved by its token)
            expires = _number(replaced.get("Expires"))
            if expires is None or expires >= now:
                left = "no Expires" if expires is None else f"{(expires - now) / 1e6:.3f} ms of its lease left"
                verdict.fail("acquired-live-lock", key, f"op {op.index} (worker {op.process}) acquired {key!r} "
                             f"over {replaced.get('Owner')!r}'s lock, which had {left} at the acquire's :now",
                             [op.index], replaced=replaced)
        elif op.f == ACQUIRE and op.type == FAIL and op.error == CONDITIONAL_FAILED and isinstance(op.old, dict):
            expires, now = _number(op.old.get("Expires")), _number(value.get("Now"))
            if expires is not None and now is not None and expires < now:
                verdict.fail("refused-expired-lock", key, f"op {op.index} (worker {op.process}) was refused "
                             f"{key!r}, but the lock it was refused by had expired {(now - expires) / 1e6:.3f} ms "
                             "before its :now (Expires < :now held)", [op.index], old=op.old)
        elif op.f == RELEASE and op.type == FAIL and op.error == CONDITIONAL_FAILED and isinstance(op.old, dict):
            if token is not None and op.old.get("Owner") == token:
                verdict.fail("refused-own-release", key, f"op {op.index} (worker {op.process}) was refused the "
                             f"release of its own lock on {key!r} (Owner = :me held)", [op.index], old=op.old)
        elif op.f == RELEASE and op.type == OK:
            deleted = result.get("deleted")
            if isinstance(deleted, dict) and deleted.get("Owner") != token:
                verdict.fail("released-anothers-lock", key, f"op {op.index} (worker {op.process}, owner {token!r}) "
                             f"deleted {deleted.get('Owner')!r}'s lock on {key!r}", [op.index], deleted=deleted)


def _check_takeovers(verdict: Verdict, key: str, ops: list[Op], acquires: dict[str, Op]) -> None:
    """A release that succeeded after another acquire had succeeded since its owner's own acquire.

    That acquire replaced the owner's item (or created one where the owner's was gone); only the owner's
    acquire writes its token, and it was over before, so ``Owner = :me`` could not hold any more: the
    release deleted someone else's lock. Both acquires must be ``ok`` (an ``info`` one may apply late).
    """
    won = sorted((op for op in ops if op.f == ACQUIRE and op.type == OK and op.complete_time is not None),
                 key=lambda op: op.invoke_time)
    invokes = [op.invoke_time for op in won]
    # first_done[i]: the acquire among won[i:] that completed first (the one that fits a window best).
    first_done: list[Op | None] = [None] * (len(won) + 1)
    for i in range(len(won) - 1, -1, -1):
        best = first_done[i + 1]
        first_done[i] = won[i] if best is None or won[i].complete_time < best.complete_time else best
    for release in ops:
        mine = acquires.get(owner(release) or "")
        if release.f != RELEASE or release.type != OK or mine is None or mine.type != OK:
            continue
        assert mine.complete_time is not None
        other = first_done[bisect.bisect_right(invokes, mine.complete_time)]
        if other is not None and other.complete_time is not None and other.complete_time < release.invoke_time:
            verdict.fail("released-anothers-lock", key, f"op {release.index} (worker {release.process}) released "
                         f"{key!r} as {owner(release)!r}, but op {other.index} (worker {other.process}) had acquired "
                         "it in between, so the lock released was not this owner's any more",
                         [mine.index, other.index, release.index])


def _check_held(verdict: Verdict, key: str, ops: list[Op], acquires: dict[str, Op]) -> None:
    """Inside its lease, a holder's lock is still there: its reads see it, its first release is not refused."""
    first_release: dict[str, Op] = {}
    for op in sorted((op for op in ops if op.f == RELEASE), key=lambda op: op.invoke_time):
        first_release.setdefault(owner(op) or "", op)
    for op in ops:
        token = owner(op)
        mine = acquires.get(token or "")
        end = lease_end(mine) if mine is not None else None
        if mine is None or mine.type != OK or end is None or op.complete_time is None or op.complete_time >= end:
            continue
        released = first_release.get(token or "")
        if op.f == READ and op.type == OK and op.result != token and (released is None
                                                                       or released.invoke_time > op.invoke_time):
            seen = "no lock" if op.result is None else f"{op.result!r}'s lock"
            verdict.fail("lock-lost-inside-lease", key, f"op {op.index} (worker {op.process}) read {seen} on {key!r} "
                         f"{(end - op.complete_time) / 1e6:.3f} ms before its own lease (op {mine.index}) ran out",
                         [mine.index, op.index], seen=op.result)
        elif op.f == RELEASE and op is released and op.type == FAIL and op.error == CONDITIONAL_FAILED:
            seen = (op.old or {}).get("Owner")
            found = "no item returned" if seen is None else f"it met {seen!r}'s lock"
            verdict.fail("lock-lost-inside-lease", key, f"op {op.index} (worker {op.process}) was refused the "
                         f"release of {key!r} {(end - op.complete_time) / 1e6:.3f} ms before its lease (op "
                         f"{mine.index}) ran out ({found})", [mine.index, op.index], seen=seen)


def _check_stored(verdict: Verdict, key: str, stored: dict[str, Any] | None, ops: list[Op],
                  acquires: dict[str, Op]) -> None:
    """The lock left in the table was written by an acquire that was not refused, and not released since."""
    if stored is None:
        return
    token = stored.get("Owner")
    writer = acquires.get(token) if isinstance(token, str) else None
    if writer is None:
        verdict.fail("stored-lock-unwritten", key, f"the stored lock on {key!r} ({token!r}) was written by no "
                     "acquire", [], stored=stored)
    elif writer.type == FAIL:
        verdict.fail("stored-lock-from-failed-acquire", key, f"the stored lock on {key!r} is op {writer.index}'s, "
                     "which was refused", [writer.index], stored=stored)
    elif writer.type == OK:
        released = [op for op in ops if op.f == RELEASE and op.type == OK and owner(op) == token]
        if released:
            verdict.fail("released-lock-still-stored", key, f"{key!r} still stores op {writer.index}'s lock, which "
                         f"op {released[0].index} released", [writer.index, released[0].index], stored=stored)
