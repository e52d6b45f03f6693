"""TransactWriteItems limits: no two actions on one item, at most 100 actions, at most 4 MB."""

from __future__ import annotations

from harness.conform.client import ConformClient, Reply
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, key, s
from harness.conform.probes.documented import TRANSACTION_LIMITS

INVALID = "ValidationException"
MAX_ACTIONS = 100
MAX_BYTES = 4 * 1024 * 1024
# 11 items of ~390 KB: each under the 400 KB item limit, together over 4 MB.
BIG_ITEMS, BIG_ITEM_BYTES = 11, 390_000


class TransactionLimits(Probe, behaviour=TRANSACTION_LIMITS):
    """Three transactions AWS refuses before doing anything."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """Send each over-the-limit transaction and check it was refused and wrote nothing."""
        same_item = await client.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": table, "Item": item("dup", v=s("put"))}},
            {"Update": {"TableName": table, "Key": key("dup"), "UpdateExpression": "SET #v = :v",
                        "ExpressionAttributeNames": {"#v": "v"}, "ExpressionAttributeValues": {":v": s("upd")}}},
        ])
        dup_written = await client.get(table, "dup") is not None
        too_many = await client.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": table, "Item": item(f"many-{i}")}} for i in range(MAX_ACTIONS + 1)])
        many_written = await client.get(table, "many-0") is not None
        payload = "x" * BIG_ITEM_BYTES
        too_big = await client.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": table, "Item": item(f"big-{i}", p=s(payload))}} for i in range(BIG_ITEMS)])
        big_written = await client.get(table, "big-0") is not None
        found = Findings()
        found.evidence.update(same_item=same_item.outcome(), actions_101=too_many.outcome(),
                              over_4mb=too_big.outcome(), over_4mb_bytes=BIG_ITEMS * BIG_ITEM_BYTES)
        for what, reply, written in (("two actions on one item", same_item, dup_written),
                                     (f"{MAX_ACTIONS + 1} actions", too_many, many_written),
                                     (f"{BIG_ITEMS * BIG_ITEM_BYTES / 1e6:.1f} MB of items", too_big, big_written)):
            found.expect(reply.code == INVALID and not written, f"{what} → {INVALID}, nothing written",
                         _said(reply, written))
        return found.cell()


def _said(reply: Reply, written: bool) -> str:
    return reply.outcome() + (" and the items were written" if written else "")
