"""ClientRequestToken makes TransactWriteItems idempotent: a replay succeeds without writing twice."""

from __future__ import annotations

import uuid
from typing import Any

from harness.conform.client import ConformClient, Reply
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import key, n, number
from harness.conform.probes.documented import CLIENT_REQUEST_TOKEN

MISMATCH = "IdempotentParameterMismatchException"


def _add(table: str, pk: str, amount: int) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": key(pk), "UpdateExpression": "ADD #n :d",
                       "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":d": n(amount)}}}


class ClientRequestToken(Probe, behaviour=CLIENT_REQUEST_TOKEN):
    """The same token replayed with the same and with other parameters, and a replay with a ConditionCheck."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """(1) token A twice, then the counter must be 1; (2) token A, other amount; (3) token B twice, with a
        ConditionCheck among its actions."""
        token_a, token_b = str(uuid.uuid4()), str(uuid.uuid4())
        first = [_add(table, "counted", 1)]
        replies = {
            "first": await client.call("transact_write_items", TransactItems=first, ClientRequestToken=token_a),
            "identical replay": await client.call("transact_write_items", TransactItems=first,
                                                  ClientRequestToken=token_a),
        }
        counted = number(await client.get(table, "counted"), "n")
        replies["other parameters"] = await client.call(
            "transact_write_items", TransactItems=[_add(table, "counted", 2)], ClientRequestToken=token_a)
        counted_after = number(await client.get(table, "counted"), "n")
        checked = [{"ConditionCheck": {"TableName": table, "Key": key("counted"),
                                       "ConditionExpression": "attribute_exists(pk)"}},
                   _add(table, "checked", 1)]
        replies["with ConditionCheck"] = await client.call("transact_write_items", TransactItems=checked,
                                                           ClientRequestToken=token_b)
        replies["with ConditionCheck, replayed"] = await client.call(
            "transact_write_items", TransactItems=checked, ClientRequestToken=token_b)
        checked_n = number(await client.get(table, "checked"), "n")
        found = Findings()
        found.evidence.update(replies={what: r.outcome() for what, r in replies.items()},
                              counter_after_replay=counted, counter_after_mismatch=counted_after,
                              counter_after_condition_check_replay=checked_n)
        if not found.expect(replies["first"].ok, "TransactWriteItems with a ClientRequestToken succeeds",
                            _said(replies["first"])):
            return found.cell()  # every later step would only repeat the same refusal
        found.expect(replies["identical replay"].ok, "an identical replay succeeds", _said(replies["identical replay"]))
        found.expect(counted == 1, "an identical replay is applied once (counter 1)", f"counter {counted}")
        found.expect(replies["other parameters"].code == MISMATCH, f"same token, other parameters: {MISMATCH}",
                     _said(replies["other parameters"]))
        found.expect(counted_after == 1, "the call with other parameters writes nothing", f"counter {counted_after}")
        for what in ("with ConditionCheck", "with ConditionCheck, replayed"):
            found.expect(replies[what].ok, f"{what} succeeds", _said(replies[what]))
        found.expect(checked_n == 1, "a replay with a ConditionCheck is applied once", f"counter {checked_n}")
        return found.cell()


def _said(reply: Reply) -> str:
    return reply.outcome() + (f" ({reply.message})" if reply.message else "")
