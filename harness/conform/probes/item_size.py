"""The 400 KB item size limit: an item over it is refused, one under it stored."""

from __future__ import annotations

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, s
from harness.conform.probes.documented import ITEM_SIZE

INVALID = "ValidationException"
LIMIT_BYTES = 400 * 1024
# Clearly on either side (attribute names count too): whether a server counts 400 KB as 400,000 or 409,600
# bytes does not decide this probe.
UNDER_BYTES, OVER_BYTES = 380_000, 420_000


class ItemSize(Probe, behaviour=ITEM_SIZE):
    """PutItem of an item just under and one just over 400 KB."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """One put on each side of the limit."""
        under = await client.call("put_item", TableName=table, Item=item("under", p=s("x" * UNDER_BYTES)))
        over = await client.call("put_item", TableName=table, Item=item("over", p=s("x" * OVER_BYTES)))
        stored_over = await client.get(table, "over") is not None
        found = Findings()
        found.evidence.update(under=under.outcome(), over=over.outcome(), over_message=over.message,
                              limit_bytes=LIMIT_BYTES)
        found.expect(under.ok, f"a {UNDER_BYTES:,}-byte item is stored", under.outcome())
        found.expect(over.code == INVALID and not stored_over, f"a {OVER_BYTES:,}-byte item → {INVALID}",
                     over.outcome() + (" and it was stored" if stored_over else ""))
        return found.cell()
