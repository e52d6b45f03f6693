"""Write capacity: a transactional write of one item up to 1 KB costs 2 write units, a plain one 1."""

from __future__ import annotations

from typing import Any

from harness.conform.client import ConformClient, Reply
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, s
from harness.conform.probes.documented import CAPACITY

SMALL = "x" * 100  # the whole item stays well under 1 KB


def table_units(reply: Reply, table: str) -> float | None:
    """CapacityUnits reported for ``table`` (ConsumedCapacity is a list for transactions, a map otherwise)."""
    consumed: Any = reply.data.get("ConsumedCapacity")
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    units = [e.get("CapacityUnits") for e in entries if isinstance(e, dict) and e.get("TableName") == table]
    return float(units[0]) if units and units[0] is not None else None


class Capacity(Probe, behaviour=CAPACITY):
    """ReturnConsumedCapacity=TOTAL on a one-item TransactWriteItems and on a PutItem of the same item."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """One transactional and one standard write, each reporting its consumed capacity."""
        transactional = await client.call(
            "transact_write_items", ReturnConsumedCapacity="TOTAL",
            TransactItems=[{"Put": {"TableName": table, "Item": item("tx", p=s(SMALL))}}])
        standard = await client.call("put_item", TableName=table, Item=item("plain", p=s(SMALL)),
                                     ReturnConsumedCapacity="TOTAL")
        found = Findings()
        found.evidence.update(transactional=transactional.data.get("ConsumedCapacity", transactional.outcome()),
                              standard=standard.data.get("ConsumedCapacity", standard.outcome()))
        for what, reply, expected in (("TransactWriteItems of one item", transactional, 2.0),
                                      ("PutItem of one item", standard, 1.0)):
            if found.expect(reply.ok, f"{what} succeeds", reply.outcome()):
                units = table_units(reply, table)
                found.expect(units == expected, f"{what} consumed {expected} WCU",
                             f"ConsumedCapacity {reply.data.get('ConsumedCapacity')!r}" if units is None
                             else f"{units} WCU")
        return found.cell()
