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

Models are small classes (``init``, ``prepare``, ``step``) kept in :data:`MODELS` (a register, a
register with cas, and Knossos's mutex and multi-register of transactions); add an entry there to check a
new datatype.

This package's public face is :func:`check_linearizable` and the models; one module per part behind it:
``model`` (calls and models), ``chain`` (the fast path), ``search`` (the search and its over-approximation),
``shrink`` (minimal counterexamples), ``results`` (what a key's check concludes) and ``check`` (key by key,
the verdict).
"""

from __future__ import annotations

from harness.checker.linearizability.check import check_linearizable, gc_paused, partition
from harness.checker.linearizability.model import (
    CAS,
    MODELS,
    READ,
    WRITE,
    Call,
    CasRegisterModel,
    Model,
    MultiRegisterModel,
    MutexModel,
    RegisterModel,
    freeze,
    get_model,
    make_call,
)

__all__ = ["CAS", "MODELS", "READ", "WRITE", "Call", "CasRegisterModel", "Model", "MultiRegisterModel", "MutexModel",
           "RegisterModel", "check_linearizable", "freeze", "gc_paused", "get_model", "make_call", "partition"]
