"""Atomic counters: concurrent ADD and SET n = n + 1 on one item never lose an increment."""

from __future__ import annotations

import asyncio
from collections import Counter

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, Probe
from harness.conform.probes.common import item, key, n, number
from harness.conform.probes.documented import ATOMIC_COUNTER, IN_FLIGHT


class AtomicCounter(Probe, behaviour=ATOMIC_COUNTER):
    """IN_FLIGHT increments of one counter, all sent at once (half ADD, half SET #n = #n + :one)."""

    async def check(self, client: ConformClient, table: str) -> Cell:
        """Send every increment together, then read the counter back."""
        await client.put(table, item("counter", n=n(0)))
        expressions = ("ADD #n :one", "SET #n = #n + :one")
        replies = await asyncio.gather(*(
            client.call("update_item", TableName=table, Key=key("counter"),
                        UpdateExpression=expressions[i % 2], ExpressionAttributeNames={"#n": "n"},
                        ExpressionAttributeValues={":one": n(1)})
            for i in range(IN_FLIGHT)))
        final = number(await client.get(table, "counter"), "n")
        outcomes = Counter(r.outcome() for r in replies)
        acked = sum(r.ok for r in replies)
        # A refused increment (throttling) is fine; an unknown one (timeout) may or may not have applied.
        unknown = sum(r.code is not None and not r.data.get("ResponseMetadata") for r in replies)
        evidence = {"sent": IN_FLIGHT, "outcomes": dict(outcomes), "final": final}
        if final is not None and acked <= final <= acked + unknown:
            if acked == IN_FLIGHT:
                return Cell.conforms(f"{IN_FLIGHT} acknowledged increments, final value {final:g}", **evidence)
            return Cell.inconclusive(f"only {acked} of {IN_FLIGHT} increments were acknowledged ({dict(outcomes)}); "
                                     f"final value {final:g} is consistent with them", **evidence)
        if final is not None and final < acked:
            return Cell.differs(f"final value {final:g} after {acked} acknowledged increments: "
                                f"{acked - final:g} lost", **evidence)
        return Cell.differs(f"final value {final} after {acked} acknowledged increments "
                            f"({unknown} unanswered)", **evidence)
