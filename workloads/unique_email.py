"""Registration with two uniqueness constraints: a username and an email, one transaction.

A user is two items in one table (string hash key ``pk``): ``USER#<name>`` (with the email) and
``EMAIL#<email>`` (a marker naming the user). Each worker sends ``TransactWriteItems`` with two
puts, both guarded by ``attribute_not_exists(pk)``. Within a step, worker ``w`` registers username
``u[w % U]`` with email ``e[(w // 2) % E]``, so contenders for a username want different emails and
contenders for an email want different usernames: the conflicts cross. Cancellation reasons
(one per item) are recorded with each cancelled op.

A few workers per step instead send a plain, unconditional ``put_item`` of an unrelated
``PLAIN#…`` item: a transaction must not lose writes that run concurrently with it.

Invariants (final state read with a ConsistentRead Scan):

* no email is owned by two users, no username registered twice;
* all or nothing: every ok transaction wrote both of its items, every cancelled one neither,
  an indeterminate one both or neither;
* every stored item was written by an ok (or indeterminate) op;
* a cancellation reason ``ConditionalCheckFailed`` names an item some other op may have written;
* every acknowledged plain put is in the final state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.outcome import Outcome, Request
from harness.history.events import FAIL, INFO, OK, TRANSACTION_CANCELED, Op
from workloads.base import Call, Step, Workload
from workloads.common import scan_final

PK = "pk"
REGISTER = "register"
PUT = "put"
TOKEN = "RequestId"
ATTEMPT_TYPES = (OK, INFO)


def user_pk(username: str, prefix: str = "") -> str:
    """The partition key of a user item (``prefix``: the run's key prefix in a user's table)."""
    return f"{prefix}USER#{username}"


def email_pk(email: str, prefix: str = "") -> str:
    """The partition key of an email marker item."""
    return f"{prefix}EMAIL#{email}"


class UniqueEmail(Workload):
    """``TransactWriteItems`` of a user item and an email marker, both ``attribute_not_exists``."""

    name = "unique-email"
    description = "registration with unique username and unique email (TransactWriteItems, two markers)"
    key_attribute = PK
    supports_unsafe = True
    independent_steps = True  # requests never depend on earlier outcomes
    races_one_item = False  # a step covers many items
    users_per_step: ClassVar[int | None] = None  # U; None: max(2, workers // 10)
    emails_per_step: ClassVar[int | None] = None  # E; None: max(2, workers // 10)
    plain_writers: ClassVar[int | None] = None  # workers per step doing plain puts; None: max(1, workers // 20)

    def counts(self) -> tuple[int, int, int]:
        """(U, E, P) for this run's worker count."""
        w = self.config.workers
        users = self.users_per_step or max(2, w // 10)
        emails = self.emails_per_step or max(2, w // 10)
        plain = self.plain_writers if self.plain_writers is not None else max(1, w // 20)
        return users, emails, min(plain, max(0, w - 1))

    def key_names(self, round_: int) -> list[str]:
        """One group of usernames and emails per key and round (names never repeat across steps)."""
        return [f"{self.config.key_prefix}g-r{round_}-{i:04d}" for i in range(self.config.keys)]

    def names(self, worker: int, step: Step) -> tuple[str, str]:
        """The (username, email) ``worker`` tries to register in ``step``."""
        users, emails, _ = self.counts()
        return f"{step.key}-u{worker % users}", f"{step.key}-e{(worker // 2) % emails}@example.com"

    def is_plain_writer(self, worker: int) -> bool:
        """The last P workers of every step write plain items instead of registering."""
        return worker >= self.config.workers - self.counts()[2]

    def request(self, worker: int, step: Step) -> Call:
        """A two-item registration transaction, or a plain put for the plain writers."""
        request_id = f"{self.config.run_id}/{step.key}/w{worker}"
        prefix = self.config.key_prefix
        if self.is_plain_writer(worker):
            item = {PK: f"{prefix}PLAIN#{step.key}-w{worker}", TOKEN: request_id}
            params = {"TableName": self.table, "Item": typed_item(item)}
            return Call(PUT, {PK: item[PK], TOKEN: request_id}, Request("put_item", params, token=(TOKEN, request_id)))
        username, email = self.names(worker, step)
        value = {"Username": username, "Email": email, TOKEN: request_id, **({"prefix": prefix} if prefix else {})}
        params = {"TransactItems": [self._guarded_put(item) for item in registration_items(value)]}
        return Call(REGISTER, value, Request("transact_write_items", params))

    def _guarded_put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self.table, "Item": typed_item(item),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": PK},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    async def execute_unsafe(self, client: Any, call: Call) -> Outcome:
        """Read both items; if both are free, put both without conditions (two separate puts)."""
        if call.f != REGISTER:
            return await client.call(call.request)
        items = registration_items(call.value)
        reasons = []
        for item in items:
            read = await self.read_item(client, item[PK])
            if read.type != OK:
                return read
            reasons.append("ConditionalCheckFailed" if read.item else "None")
        if "ConditionalCheckFailed" in reasons:
            return Outcome(FAIL, error=TRANSACTION_CANCELED, reasons=reasons)
        for n, item in enumerate(items):
            put = await client.call(Request("put_item", {"TableName": self.table, "Item": typed_item(item)}))
            if put.type != OK:
                return put if n == 0 else Outcome(INFO, error=put.error, attempts=put.attempts)
        return Outcome(OK)

    def completed(self, worker: int, step: Step, call: Call, outcome: Outcome) -> Any:
        """Nothing to learn: every name is raced once."""
        return None

    def all_keys(self) -> list[str]:
        """Every item key the run may write: users, email markers and plain items."""
        keys: set[str] = set()
        for step in self.steps():
            for worker in range(self.config.workers):
                call = self.request(worker, step)
                if call.f == PUT:
                    keys.add(call.value[PK])
                else:
                    keys.update(item[PK] for item in registration_items(call.value))
        return sorted(keys)

    async def read_final(self, client: Any) -> dict[str, Any]:
        """A ConsistentRead Scan of the whole table; touched keys that are absent map to None.

        In a user's own table (a key prefix is set) only this run's keys are read, one by one.
        """
        if self.config.key_prefix:
            return await super().read_final(client)
        return await scan_final(client, self.table, PK, self.all_keys())

    @classmethod
    def check(cls, ops: list[Op], final_state: dict[str, Any], config: dict[str, Any]) -> Verdict:
        """Unique emails and usernames, all-or-nothing transactions, no lost plain puts."""
        return check_unique_email(ops, final_state)


def registration_items(value: dict[str, Any]) -> list[dict[str, Any]]:
    """The two items a registration writes: the user, then the email marker."""
    username, email, token, prefix = value["Username"], value["Email"], value[TOKEN], value.get("prefix", "")
    return [{PK: user_pk(username, prefix), "Username": username, "Email": email, TOKEN: token},
            {PK: email_pk(email, prefix), "Email": email, "Username": username, TOKEN: token}]


@dataclass
class History:
    """The ops of a unique-email run, indexed for the checks."""

    registrations: list[Op]
    puts: list[Op]
    by_token: dict[str, Op]

    @classmethod
    def of(cls, ops: list[Op]) -> History:
        """Split and index the ops."""
        registrations = [op for op in ops if op.f == REGISTER and isinstance(op.value, dict)]
        puts = [op for op in ops if op.f == PUT and isinstance(op.value, dict)]
        by_token = {op.value[TOKEN]: op for op in registrations + puts}
        return cls(registrations, puts, by_token)


def check_unique_email(ops: list[Op], final_state: dict[str, Any]) -> Verdict:
    """Every unique-email invariant; unknown when the final state is missing."""
    verdict = Verdict()
    history = History.of(ops)
    _check_double_owners(verdict, history.registrations)
    _check_reasons(verdict, history.registrations)
    if not final_state:
        verdict.undecided("unique-email: no final state recorded")
        return verdict
    for op in history.registrations:
        _check_all_or_nothing(verdict, op, final_state)
    _check_stored(verdict, history, final_state)
    _check_plain_puts(verdict, history.puts, final_state)
    return verdict


def _check_double_owners(verdict: Verdict, registrations: list[Op]) -> None:
    """Two ok registrations of one email (or one username) break uniqueness."""
    for field, kind in (("Email", "email-owned-twice"), ("Username", "username-taken-twice")):
        winners: dict[str, list[Op]] = defaultdict(list)
        for op in registrations:
            if op.type == OK:
                winners[op.value[field]].append(op)
        for name, group in sorted(winners.items()):
            if len(group) > 1:
                who = ", ".join(f"op {op.index} ({op.value['Username']} / {op.value['Email']})" for op in group)
                verdict.fail(kind, name, f"{len(group)} registrations of {field.lower()} {name!r} succeeded: {who}",
                             [op.index for op in group])


def _check_reasons(verdict: Verdict, registrations: list[Op]) -> None:
    """A ``ConditionalCheckFailed`` reason needs an op that may have written that item before."""
    writers: dict[str, list[Op]] = defaultdict(list)
    for op in registrations:
        if op.type in ATTEMPT_TYPES:
            for item in registration_items(op.value):
                writers[item[PK]].append(op)
    for op in registrations:
        reasons = op.extra.get("reasons") or []
        if op.type != FAIL or op.error != TRANSACTION_CANCELED:
            continue
        for item, reason in zip(registration_items(op.value), reasons, strict=False):
            done = op.complete_time if op.complete_time is not None else float("inf")
            if reason == "ConditionalCheckFailed" and not any(
                    w.invoke_time <= done for w in writers.get(item[PK], ()) if w is not op):
                verdict.fail("phantom-conflict", item[PK], f"op {op.index} was cancelled because {item[PK]!r} "
                             "existed, but no op can have written it by then", [op.index], reasons=reasons)


def _check_all_or_nothing(verdict: Verdict, op: Op, final_state: dict[str, Any]) -> None:
    """Which of an op's two items carry its token must match its outcome."""
    token = op.value[TOKEN]
    items = registration_items(op.value)
    mine = [_token_of(final_state.get(item[PK])) == token for item in items]
    pks = [item[PK] for item in items]
    if mine[0] != mine[1]:
        written, missing = (pks[0], pks[1]) if mine[0] else (pks[1], pks[0])
        verdict.fail("half-written-transaction", pks[0], f"op {op.index} ({op.type}) wrote {written!r} "
                     f"but not {missing!r}: a transaction applied in part", [op.index],
                     written=written, missing=missing, stored=final_state.get(missing))
    elif op.type == OK and not any(mine):
        verdict.fail("lost-transaction", pks[0], f"op {op.index} succeeded but neither {pks[0]!r} nor "
                     f"{pks[1]!r} holds its write", [op.index],
                     stored=[final_state.get(pk) for pk in pks])
    elif op.type == FAIL and all(mine):
        verdict.fail("cancelled-transaction-applied", pks[0], f"op {op.index} failed "
                     f"({op.error}) yet both its items are stored", [op.index])


def _check_stored(verdict: Verdict, history: History, final_state: dict[str, Any]) -> None:
    """Every stored item was written by an ok or indeterminate op, and no email has two users."""
    users_by_email: dict[str, list[str]] = defaultdict(list)
    for pk, item in sorted(final_state.items()):
        if item is None:
            continue
        owner = history.by_token.get(_token_of(item))
        if owner is None:
            verdict.fail("stored-item-unwritten", pk, f"{pk!r} stores an item no op wrote: {item}", [], stored=item)
        elif owner.type == FAIL and owner.f == PUT:
            verdict.fail("stored-item-from-failed-op", pk, f"{pk!r} stores the write of op {owner.index}, which "
                         f"failed ({owner.error})", [owner.index], stored=item)
        if "USER#" in pk and "Email" in item:
            users_by_email[item["Email"]].append(pk)
    reported = {v.key for v in verdict.violations if v.kind == "email-owned-twice"}
    for email, users in sorted(users_by_email.items()):
        if len(users) > 1 and email not in reported:
            ops = [history.by_token[t].index for t in (_token_of(final_state[u]) for u in users)
                   if t in history.by_token]
            verdict.fail("email-owned-twice", email, f"users {users} are all stored with email {email!r}", ops,
                         users=users)


def _check_plain_puts(verdict: Verdict, puts: list[Op], final_state: dict[str, Any]) -> None:
    """Every acknowledged plain put is in the final state."""
    for op in puts:
        pk = op.value[PK]
        if op.type == OK and _token_of(final_state.get(pk)) != op.value[TOKEN]:
            verdict.fail("lost-put", pk, f"plain put op {op.index} of {pk!r} was acknowledged, but the item is "
                         f"{'missing' if final_state.get(pk) is None else 'another write'} in the final state",
                         [op.index], stored=final_state.get(pk))


def _token_of(item: Any) -> Any:
    return item.get(TOKEN) if isinstance(item, dict) else None
