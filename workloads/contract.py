"""What a checker needs from a workload's requests, checked before the run sends anything.

A checker reads only the history and the final state, and they mean what it assumes only if the workload
built its requests to match: ``check_unique_writes`` tells the winner's item from the losers' by a token
attribute that must be in every item and every Call value, compares the losers' ``ALL_OLD`` items, and
only looks at the ops named ``f``. A workload that misses one of these is reported INVALID on a correct
database — the harness blaming the database for the workload's mistake.

So a checker *declares* what it needs: each call of it runs :func:`declare` with a :class:`Contract`
(a no-op unless someone is listening). Before a run, :func:`contract_problems` calls the workload's
``check`` on an empty history to collect those declarations, builds the first race's requests of workers
0 and 1 on a fresh instance, and holds them against each contract; `stress run` stops with one line
(exit 2) naming what is missing. A workload with its own checker can call :func:`declare` from its
``check`` as well, or override ``Workload.contracts``.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from harness.clients.items import plain_item

if TYPE_CHECKING:
    from workloads.base import Call, Step, Workload

PROBE_WORKERS = 2  # workers whose first request is checked: two, to see that their tokens differ
ALL_OLD = "ALL_OLD"

_listening: contextvars.ContextVar[list[Contract] | None] = contextvars.ContextVar("contracts", default=None)


@dataclass(frozen=True)
class Contract(ABC):
    """What one checker needs from the requests of the ops named ``f``."""

    f: str
    checker: ClassVar[str] = "the checker"

    @abstractmethod
    def problems(self, workload: Workload, step: Step, calls: dict[int, Call]) -> list[str]:
        """What is missing from ``calls`` (worker → its call named ``f`` in ``step``), one sentence each."""


def declare(contract: Contract) -> None:
    """Called by a checker: "I need this". Does nothing unless :func:`declared_contracts` is listening."""
    listening = _listening.get()
    if listening is not None and contract not in listening:
        listening.append(contract)


def declared_contracts(workload: Workload) -> list[Contract]:
    """The contracts ``workload``'s checker declares, found by checking an empty history.

    A checker that cannot take an empty history (it raises) declares what it declared before raising.
    """
    listening: list[Contract] = []
    token = _listening.set(listening)
    try:
        type(workload).check([], {}, asdict(workload.config))
    except Exception:  # a user's checker may assume ops exist; an empty history is not what it is for
        pass
    finally:
        _listening.reset(token)
    return listening


def contract_problems(workload: Workload) -> list[str]:
    """Everything the first race's requests (workers 0 and 1) lack for the checker's contracts."""
    contracts = workload.contracts()
    if not contracts:
        return []
    # A fresh instance: request() may keep state (beliefs, counters) the run must start without.
    probe = type(workload)(workload.config, workload.table)
    step = probe.probe_step()
    if step is None:
        return []
    calls = {w: call for w in range(min(PROBE_WORKERS, workload.config.workers))
             if (call := probe.request(w, step)) is not None}
    sent = sorted({call.f for call in calls.values()})
    if calls and not {c.f for c in contracts} & set(sent):
        first = contracts[0]
        return [f"{first.checker} checks the ops named {first.f!r}, but the requests are named "
                f"{', '.join(map(repr, sent))}: pass f={sent[0]!r} to the checker, or name the Call {first.f!r}"]
    problems: list[str] = []
    for contract in contracts:
        mine = {w: call for w, call in calls.items() if call.f == contract.f}
        if mine:
            problems += contract.problems(probe, step, mine)
    return list(dict.fromkeys(problems))


def contract_message(workload: Workload, problems: list[str]) -> str:
    """One line for the UsageError: the workload, its first problem, how many more there are."""
    label = workload.name or f"{type(workload).__module__}.{type(workload).__qualname__}"
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return f"workload {label}: {problems[0]}{more}; nothing was sent (see docs/workloads.md)"


# ----- shared request checks -------------------------------------------------------------------------------

def _eav(call: Call) -> list[Any]:
    """The plain values of a request's ExpressionAttributeValues."""
    values = call.request.params.get("ExpressionAttributeValues") or {}
    return list((plain_item(values) or {}).values())


def _key_of(workload: Workload, call: Call) -> Any:
    """The key attribute's value the request writes: from the put's Item, or the update's Key."""
    params = call.request.params
    item = plain_item(params.get("Item") or params.get("Key")) or {}
    return item.get(workload.key_attribute)


def _common(contract: Contract, workload: Workload, step: Step, call: Call) -> list[str]:
    """A conditional write of the race's key that returns ALL_OLD when its condition fails."""
    params, found = call.request.params, []
    if not params.get("ConditionExpression"):
        found.append(f"{contract.checker} needs conditional writes (ConditionExpression): without a condition "
                     "every writer wins and the run is reported INVALID")
    key = _key_of(workload, call)
    if key != step.key:
        found.append(f"{contract.checker} reads each race's key back from the final state, so the request must "
                     f"write key attribute {workload.key_attribute!r} = the race's key ({step.key!r}); it writes "
                     f"{key!r}")
    if params.get("ReturnValuesOnConditionCheckFailure") != ALL_OLD:
        found.append(f"{contract.checker} compares each loser's ALL_OLD item with the stored one: set "
                     "ReturnValuesOnConditionCheckFailure='ALL_OLD' in the request")
    return found


@dataclass(frozen=True)
class PerWorkerContract(Contract):
    """A contract on each call alone, and then across the workers: each must write a value of its own."""

    def problems(self, workload: Workload, step: Step, calls: dict[int, Call]) -> list[str]:
        """Each call's own problems; then two workers that write the same value cannot be told apart."""
        found: list[str] = []
        for call in calls.values():
            found += self._call_problems(workload, step, call)
        present = {w: v for w, c in calls.items() if (v := self._own_value(c)) is not None}
        if len(present) > 1 and len(set(present.values())) < len(present):
            (w0, v0), (w1, _) = list(present.items())[:2]
            found.append(f"{self.checker} needs the {self._own_value_name()} unique per worker, but workers {w0} "
                         f"and {w1} both write {v0!r}")
        return found

    @abstractmethod
    def _call_problems(self, workload: Workload, step: Step, call: Call) -> list[str]:
        """What one call lacks, one sentence each."""

    @abstractmethod
    def _own_value(self, call: Call) -> Any:
        """The value ``call`` writes that no other worker's may (None when it writes none)."""

    @abstractmethod
    def _own_value_name(self) -> str:
        """What that value is, for the message."""


# ----- the built-in checkers' contracts ----------------------------------------------------------------------

@dataclass(frozen=True)
class UniqueWritesContract(PerWorkerContract):
    """``check_unique_writes``: one conditional put (or update) per worker, each marked by its token."""

    token_attr: str = "RequestId"
    checker: ClassVar[str] = "check_unique_writes"

    def _token(self, call: Call) -> Any:
        return call.value.get(self.token_attr) if isinstance(call.value, dict) else None

    def _own_value(self, call: Call) -> Any:
        return self._token(call)

    def _own_value_name(self) -> str:
        return repr(self.token_attr)

    def _call_problems(self, workload: Workload, step: Step, call: Call) -> list[str]:
        """put/update, condition, key, ALL_OLD and the token in item, value and Request."""
        operation = call.request.operation
        if operation not in ("put_item", "update_item"):
            return [f"{self.checker} checks put_item (or update_item) requests, but {call.f!r} sends {operation}"]
        return self._token_problems(call) + _common(self, workload, step, call)

    def _token_problems(self, call: Call) -> list[str]:
        """The token must be in the item written, in the Call value, and on the Request, all equal."""
        attr = self.token_attr
        written = self._written_token(call)
        if written is None:
            return [f"{self.checker} needs each item to carry its token attribute {attr!r} "
                    f"(Request(token=({attr!r}, …))), unique per worker and also in the Call value: it is how "
                    "the stored item is traced to its writer; the request writes none"]
        found = []
        if self._token(call) != written:
            found.append(f"{self.checker} finds each op's token in its Call value: Call({call.f!r}, value) must "
                         f"be the item, or a dict whose {attr!r} is the item's ({written!r})")
        if call.request.token != (attr, written):
            found.append(f"{self.checker} needs Request(token=({attr!r}, {written!r})) (the item's token): "
                         "without it a retried write that already won cannot be recognised")
        return found

    def _written_token(self, call: Call) -> Any:
        """The token the request writes: the put's Item attribute, or (update) the Call value's token when
        the update sets it (it is among the ExpressionAttributeValues)."""
        params = call.request.params
        if call.request.operation == "put_item":
            return (plain_item(params.get("Item")) or {}).get(self.token_attr)
        claimed = self._token(call)
        return claimed if claimed is not None and claimed in _eav(call) else None


@dataclass(frozen=True)
class CasContract(PerWorkerContract):
    """role-update's CAS-chain checker: ``update_item`` from ``expected`` to a ``new`` value unique per worker."""

    attribute: str = "Role"
    checker: ClassVar[str] = "the CAS-chain checker (check_cas_key)"

    def _own_value(self, call: Call) -> Any:
        return call.value.get("new") if isinstance(call.value, dict) else None

    def _own_value_name(self) -> str:
        return "new value"

    def _call_problems(self, workload: Workload, step: Step, call: Call) -> list[str]:
        """Value {expected, new}, an update that sets new, condition, key, ALL_OLD, token."""
        value = call.value if isinstance(call.value, dict) else {}
        if not {"expected", "new"} <= set(value):
            return [f"{self.checker} reads each op's Call value as {{'expected': …, 'new': …}}; {call.f!r} "
                    f"records {call.value!r}"]
        if call.request.operation != "update_item":
            return [f"{self.checker} checks update_item requests, but {call.f!r} sends {call.request.operation}"]
        found = []
        if not {value["expected"], value["new"]} <= set(_eav(call)):
            found.append(f"{self.checker} needs the update to compare with the value's 'expected' and set its "
                         "'new' (both among ExpressionAttributeValues)")
        if call.request.token != (self.attribute, value["new"]):
            found.append(f"{self.checker} needs Request(token=({self.attribute!r}, value['new'])): without it a "
                         "retried update that already won cannot be recognised")
        return found + _common(self, workload, step, call)
