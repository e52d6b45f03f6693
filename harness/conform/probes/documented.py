"""What AWS documents, as the matrix shows it: every probe's row header and the page it cites, in matrix
order, then the behaviours documented but not probed; kept together so that they read (and are reviewed)
as one table. Each probe module names its own :class:`~harness.conform.probe.Behaviour`."""

from __future__ import annotations

from dataclasses import dataclass

from harness.conform.probe import Behaviour, DocPage

IN_FLIGHT = 200  # the atomic-counter probe's concurrent increments: its title names the number
TRANSACT_WRITE = "TransactWriteItems"
TRANSACTIONS = "transaction-apis", "Amazon DynamoDB Transactions: How it works"

TRANSACTION_CONFLICT = Behaviour(
    name="transaction-conflict",
    title="a write on an item an in-flight TransactWriteItems holds is refused",
    doc=DocPage.guide(*TRANSACTIONS, "Transaction conflict handling"),
    documented=("A PutItem, UpdateItem or DeleteItem request for an item conflicts with an ongoing "
                "TransactWriteItems request that includes the same item, and fails with "
                "TransactionConflictException; a transaction that conflicts is cancelled with reason "
                "TransactionConflict. (DynamoDB Local's usage notes say it never throws "
                "TransactionConflictException.)"))

CANCELLATION_REASONS = Behaviour(
    name="cancellation-reasons",
    title="CancellationReasons: one per action, in order, None where nothing failed, Item with ALL_OLD",
    doc=DocPage.api(TRANSACT_WRITE, "TransactionCanceledException"),
    documented=("When a transaction is cancelled, CancellationReasons holds one entry per action in the order "
                "of the request; an action that did not fail has Code None; a failed condition has Code "
                "ConditionalCheckFailed and, when the action set ReturnValuesOnConditionCheckFailure=ALL_OLD, "
                "the item as it was. No action of a cancelled transaction is applied."))

ALL_OLD = Behaviour(
    name="all-old-on-condition-failure",
    title="ReturnValuesOnConditionCheckFailure=ALL_OLD returns the item on PutItem, UpdateItem, DeleteItem",
    doc=DocPage.api("PutItem", "ReturnValuesOnConditionCheckFailure"),
    documented=("A PutItem, UpdateItem or DeleteItem whose condition fails raises "
                "ConditionalCheckFailedException; with ReturnValuesOnConditionCheckFailure=ALL_OLD the "
                "exception carries the item's attributes as they were (the same parameter on UpdateItem and "
                "DeleteItem)."))

CLIENT_REQUEST_TOKEN = Behaviour(
    name="client-request-token",
    title="ClientRequestToken: identical replay succeeds once-written, other parameters are refused",
    doc=DocPage.api(TRANSACT_WRITE, "ClientRequestToken"),
    documented=("Calls with the same ClientRequestToken and the same parameters within 10 minutes succeed "
                "and are applied once; the same token with other parameters fails with "
                "IdempotentParameterMismatchException."))

TRANSACTION_LIMITS = Behaviour(
    name="transaction-limits",
    title="TransactWriteItems refuses two actions on one item, more than 100 actions, more than 4 MB",
    doc=DocPage.api(TRANSACT_WRITE),
    documented=("TransactWriteItems groups up to 100 actions whose items total at most 4 MB, and no two "
                "actions in one transaction may target the same item; a request breaking these rules fails "
                "with ValidationException and nothing is written."))

CAPACITY = Behaviour(
    name="transaction-capacity",
    title="ReturnConsumedCapacity: a transactional write of a ≤ 1 KB item costs 2.0 WCU (a PutItem 1.0)",
    doc=DocPage.guide(*TRANSACTIONS, "Capacity management for transactions"),
    documented=("DynamoDB performs two underlying writes of every item in a transaction (prepare and "
                "commit), so a transactional write of an item up to 1 KB consumes 2 write capacity units; a "
                "standard write of the same item consumes 1."))

ATOMIC_COUNTER = Behaviour(
    name="atomic-counter",
    title=f"{IN_FLIGHT} concurrent increments of one counter (ADD and SET n = n + 1) end at {IN_FLIGHT}",
    doc=DocPage.guide("WorkingWithItems", "Working with items and attributes", "Atomic counters"),
    documented=("UpdateItem increments or decrements a numeric attribute in place, without interfering with "
                "other write requests: every acknowledged increment is applied exactly once."))

RESERVED_WORDS = Behaviour(
    name="reserved-words",
    title="SET Role = :r (a reserved word, unescaped) is refused; SET #Role = :r works",
    doc=DocPage.guide("ReservedWords", "Reserved words in DynamoDB"),
    documented=("A reserved word such as ROLE cannot be used as an attribute name in an expression: the "
                "request fails with ValidationException; an expression attribute name (#Role) must stand in "
                "for it."))

ITEM_SIZE = Behaviour(
    name="item-size-limit",
    title="PutItem of an item over 400 KB is refused with ValidationException; under it, stored",
    doc=DocPage.guide("ServiceQuotas", "Quotas in Amazon DynamoDB", "Item size"),
    documented=("The maximum item size is 400 KB, attribute names (UTF-8 length) and values together; a "
                "write of a larger item fails with ValidationException."))


@dataclass(frozen=True)
class DocumentedOnly:
    """A documented behaviour no backend can differ on, or none of the emulators can be made to show."""

    title: str
    doc: DocPage
    why: str


BATCH_WRITE = DocPage.api("BatchWriteItem")
DOCUMENTED_ONLY = (
    DocumentedOnly("BatchWriteItem takes no condition on its puts and deletes", BATCH_WRITE,
                   "the API has no ConditionExpression there: the SDK refuses the parameter before anything is "
                   "sent, so there is no answer of a backend to compare"),
    DocumentedOnly("BatchWriteItem returns UnprocessedItems under throttling", BATCH_WRITE,
                   "needs a table throttled by AWS; the emulators do not throttle"),
)
