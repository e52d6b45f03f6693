"""What a DynamoDB call did, classified — with no AWS SDK, so checkers, reports and workloads can use it.

Outcomes follow Jepsen:

* ``ok``   — applied.
* ``fail`` — definitely not applied: ConditionalCheckFailed on the first attempt, a cancelled
  transaction, validation errors, throttling (a cancellation or throttling after a retry is ``info``).
* ``info`` — indeterminate: timeouts, connection errors, 5xx, or a conditional failure after the
  SDK retried (the earlier attempt may have been applied and the retry saw its own write). When the
  item returned with ``ALL_OLD`` carries this op's own token, the earlier attempt provably won and
  the outcome is resolved to ``ok`` (``raw`` keeps what the SDK said).

The clients that send calls (``harness.clients.sdk`` through aioboto3, ``harness.clients.prepared`` on raw
connections) build these; everything downstream of the history only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.clients.items import plain_item
from harness.history.events import CONDITIONAL_FAILED, TRANSACTION_CANCELED

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                              "RequestLimitExceeded", "ThrottlingError"})
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure",
                                "ServiceUnavailableException"})

@dataclass
class Request:
    """One low-level DynamoDB call, built before the starting gun."""

    operation: str  # client method name, e.g. "put_item"
    params: dict[str, Any]
    token: tuple[str, Any] | None = None  # (attribute, value) that marks an item as written by this op


@dataclass
class Outcome:
    """What one call did, classified."""

    type: str
    error: str | None = None
    attempts: int = 1
    item: dict[str, Any] | None = None  # Attributes / Item of a success, as plain JSON
    old: dict[str, Any] | None = None  # ALL_OLD item returned with a conditional failure
    raw: str | None = None  # the SDK's own outcome when it differs from `type`
    reasons: list[str] | None = None  # transaction cancellation reasons, per item

    @property
    def throttled(self) -> bool:
        """True when the server refused the call for capacity."""
        return self.error in THROTTLING_CODES


def classify_client_error(response: dict[str, Any], attempts: int,
                          token: tuple[str, Any] | None = None) -> Outcome:
    """Turn an error response into fail/info (or ok, when ALL_OLD proves our earlier attempt won)."""
    code = response.get("Error", {}).get("Code", "Unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    old = plain_item(response.get("Item"))
    if code == CONDITIONAL_FAILED:
        if attempts == 1:
            return Outcome("fail", error=code, attempts=1, old=old)
        if token and old is not None and old.get(token[0]) == token[1]:
            return Outcome("ok", error=None, attempts=attempts, old=old, item=old, raw=code)
        return Outcome("info", error=code, attempts=attempts, old=old, raw=code)
    if code == TRANSACTION_CANCELED:
        reasons = [r.get("Code", "None") for r in response.get("CancellationReasons", [])]
        kind = "fail" if attempts == 1 else "info"
        return Outcome(kind, error=code, attempts=attempts, reasons=reasons)
    if status >= 500 or code in SERVER_ERROR_CODES:
        return Outcome("info", error=code, attempts=attempts)
    # Only retryable errors (throttling) get here after a retry, and the earlier attempt may have been
    # applied (e.g. its response was lost): like a cancelled transaction, that is indeterminate.
    return Outcome("fail" if attempts == 1 else "info", error=code, attempts=attempts)


CLIENT_KINDS = ("sdk", "prepared")
