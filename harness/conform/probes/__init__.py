"""The probes, in matrix order. Adding one: its :class:`~harness.conform.probe.Behaviour` in ``documented``,
a module here with a :class:`~harness.conform.probe.Probe` subclass naming it, and one line in ``PROBES``."""

from __future__ import annotations

from harness.conform.probe import Probe
from harness.conform.probes.all_old import AllOld
from harness.conform.probes.atomic_counter import AtomicCounter
from harness.conform.probes.cancellation_reasons import CancellationReasons
from harness.conform.probes.capacity import Capacity
from harness.conform.probes.client_request_token import ClientRequestToken
from harness.conform.probes.item_size import ItemSize
from harness.conform.probes.reserved_words import ReservedWords
from harness.conform.probes.transaction_conflict import TransactionConflict
from harness.conform.probes.transaction_limits import TransactionLimits

PROBES: tuple[type[Probe], ...] = (
    TransactionConflict,
    CancellationReasons,
    AllOld,
    ClientRequestToken,
    TransactionLimits,
    Capacity,
    AtomicCounter,
    ReservedWords,
    ItemSize,
)


def probe_names() -> list[str]:
    """Every probe's name, in matrix order."""
    return [p.name for p in PROBES]
