"""The probes, in matrix order. Adding one: a module here with a :class:`~harness.conform.probe.Probe`
subclass, and one line in ``PROBES``."""

from __future__ import annotations

from dataclasses import dataclass

from harness.conform.probe import DocPage, Probe
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


@dataclass(frozen=True)
class DocumentedOnly:
    """A documented behaviour no backend can differ on, or none of the emulators can be made to show."""

    title: str
    doc: DocPage
    why: str


BATCH_WRITE = DocPage("BatchWriteItem — Amazon DynamoDB API Reference",
                      "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html")
DOCUMENTED_ONLY = (
    DocumentedOnly("BatchWriteItem takes no condition on its puts and deletes", BATCH_WRITE,
                   "the API has no ConditionExpression there: the SDK refuses the parameter before anything is "
                   "sent, so there is no answer of a backend to compare"),
    DocumentedOnly("BatchWriteItem returns UnprocessedItems under throttling", BATCH_WRITE,
                   "needs a table throttled by AWS; the emulators do not throttle"),
)


def probe_names() -> list[str]:
    """Every probe's name, in matrix order."""
    return [p.name for p in PROBES]
