"""ReturnValuesOnConditionCheckFailure=ALL_OLD on PutItem, UpdateItem and DeleteItem returns the item."""

from __future__ import annotations

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, key, n, s
from harness.conform.probes.documented import ALL_OLD

FAILED = "ConditionalCheckFailedException"


class AllOld(Probe, behaviour=ALL_OLD):
    """Each single-item write fails its condition on an existing item and must return that item."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """One failing conditional write of each kind, then the item must be unchanged."""
        stored = item("k", v=s("old"), c=n(1))
        await client.put(table, stored)
        condition = {"ConditionExpression": "#v = :other", "ExpressionAttributeNames": {"#v": "v"},
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        replies = {
            "PutItem": await client.call("put_item", TableName=table, Item=item("k", v=s("new")), **condition,
                                         ExpressionAttributeValues={":other": s("other")}),
            "UpdateItem": await client.call("update_item", TableName=table, Key=key("k"),
                                            UpdateExpression="SET #v = :new", **condition,
                                            ExpressionAttributeValues={":other": s("other"), ":new": s("new")}),
            "DeleteItem": await client.call("delete_item", TableName=table, Key=key("k"), **condition,
                                            ExpressionAttributeValues={":other": s("other")}),
        }
        after = await client.get(table, "k")
        found = Findings()
        found.evidence["replies"] = {op: {"outcome": r.outcome(), "Item": r.data.get("Item")}
                                     for op, r in replies.items()}
        for op, reply in replies.items():
            if found.expect(reply.code == FAILED, f"{op} fails with {FAILED}", reply.outcome()):
                got = reply.data.get("Item")
                found.expect(got == stored, f"{op} returns the ALL_OLD Item",
                             "no Item" if got is None else f"Item {got!r}")
        found.expect(after == stored, "the item is unchanged", repr(after))
        return found.cell()
