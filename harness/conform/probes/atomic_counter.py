"""Atomic counters: concurrent ADD and SET n = n + 1 on one item never lose an increment."""

from __future__ import annotations

import asyncio
from collections import Counter

from harness.conform.client import ConformClient
from harness.conform.probe import Cell, DocPage, Probe
from harness.conform.probes.common import item, key, n, number

IN_FLIGHT = 200


class AtomicCounter(Probe):
    """IN_FLIGHT increments of one counter, all sent at once (half ADD, half SET #n = #n + :one)."""

    name = "atomic-counter"
    title = f"{IN_FLIGHT} concurrent increments of one counter (ADD and SET n = n + 1) end at {IN_FLIGHT}"
    doc = DocPage("Working with items and attributes — Atomic counters",
                  "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html")
    documented = ("UpdateItem increments or decrements a numeric attribute in place, without interfering with "
                  "other write requests: every acknowledged increment is applied exactly once.")

    async def run(self, client: ConformClient) -> Cell:
        """Send every increment together, then read the counter back."""
        async with client.table(self.name) as table:
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
