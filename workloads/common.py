"""Small helpers the built-in workloads share: a checker's ops per key, and a final state read by one Scan."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from harness.clients.items import plain_item
from harness.history.events import Op


def ops_by_key(ops: Iterable[Op], f: str) -> list[tuple[str, list[Op]]]:
    """The ops named ``f``, grouped by key (in history order), the keys sorted."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.f == f:
            by_key[op.key].append(op)
    return sorted(by_key.items())


async def scan_final(client: Any, table: str, key_attribute: str, keys: Iterable[str]) -> dict[str, Any]:
    """A ConsistentRead Scan of the whole ``table``: each item (plain JSON) under its ``key_attribute``, and
    each of ``keys`` that is absent mapped to None."""
    state: dict[str, Any] = dict.fromkeys(keys)
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await client.raw.scan(**params)
        for raw in page.get("Items", []):
            item = plain_item(raw)
            state[item[key_attribute]] = item
        if "LastEvaluatedKey" not in page:
            return state
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
