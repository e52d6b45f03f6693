"""A cancelled TransactWriteItems explains itself: one reason per action, in order, with ALL_OLD's Item."""

from __future__ import annotations

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, key, reason_codes, s
from harness.conform.probes.documented import CANCELLATION_REASONS

CANCELED = "TransactionCanceledException"


class CancellationReasons(Probe, behaviour=CANCELLATION_REASONS):
    """Three actions, the middle one failing its condition with ReturnValuesOnConditionCheckFailure=ALL_OLD."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """Put a new item, Update an existing one under a failing condition (ALL_OLD), Delete a third."""
        held = item("held", v=s("old"))
        await client.put(table, held)
        await client.put(table, item("kept", v=s("old")))
        reply = await client.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": table, "Item": item("new", v=s("new")),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": table, "Key": key("held"), "UpdateExpression": "SET #v = :new",
                        "ConditionExpression": "#v = :other", "ExpressionAttributeNames": {"#v": "v"},
                        "ExpressionAttributeValues": {":new": s("new"), ":other": s("other")},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": table, "Key": key("kept"), "ConditionExpression": "attribute_exists(pk)"}},
        ])
        applied = [name for name, found in (("new", await client.get(table, "new") is not None),
                                            ("kept", await client.get(table, "kept") is None),
                                            ("held", await client.get(table, "held") != held)) if found]
        found = Findings()
        reasons = reply.data.get("CancellationReasons") or []
        codes = reason_codes(reasons)
        found.evidence.update(outcome=reply.outcome(), reasons=reasons)
        if not found.expect(reply.code == CANCELED, f"cancelled with {CANCELED}", reply.outcome()):
            return found.cell()
        found.expect(codes == ["None", "ConditionalCheckFailed", "None"],
                     "reason codes [None, ConditionalCheckFailed, None]", str(codes))
        failing = reasons[1] if len(reasons) > 1 else {}
        found.expect(failing.get("Item") == held, "the failing action's reason carries the ALL_OLD Item",
                     f"Item {failing.get('Item')!r}" if "Item" in failing else "no Item")
        found.expect(not applied, "no action applied", f"applied to {', '.join(applied)}")
        return found.cell()
