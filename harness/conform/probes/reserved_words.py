"""Reserved words (Role) in an expression must be escaped through ExpressionAttributeNames."""

from __future__ import annotations

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, Findings, Probe
from harness.conform.probes.common import item, key, s
from harness.conform.probes.documented import RESERVED_WORDS

INVALID = "ValidationException"


class ReservedWords(Probe, behaviour=RESERVED_WORDS):
    """``SET Role = :r`` as the tutorial prints it, and the escaped ``SET #Role = :r`` as a control."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """The unescaped update must be refused and write nothing; the escaped one must succeed."""
        await client.put(table, item("user", Role=s("old")))
        raw = await client.call("update_item", TableName=table, Key=key("user"), UpdateExpression="SET Role = :r",
                                ExpressionAttributeValues={":r": s("raw")})
        after_raw = await client.get(table, "user")
        escaped = await client.call("update_item", TableName=table, Key=key("user"),
                                    UpdateExpression="SET #Role = :r", ExpressionAttributeNames={"#Role": "Role"},
                                    ExpressionAttributeValues={":r": s("escaped")})
        after_escaped = await client.get(table, "user")
        found = Findings()
        found.evidence.update(unescaped=raw.outcome(), unescaped_message=raw.message, escaped=escaped.outcome())
        found.expect(raw.code == INVALID, f"SET Role = :r → {INVALID}", raw.outcome())
        found.expect((after_raw or {}).get("Role") == s("old"), "the refused update writes nothing",
                     f"Role {(after_raw or {}).get('Role')}")
        found.expect(escaped.ok and (after_escaped or {}).get("Role") == s("escaped"), "SET #Role = :r is applied",
                     f"{escaped.outcome()}, Role {(after_escaped or {}).get('Role')}")
        return found.cell()
