"""Testing your own DynamoDB code for races with ``harness.testing.race`` (pytest + pytest-asyncio).

Point it at a DynamoDB Local and run it::

    stress local start --port 8000
    DDB_ENDPOINT=http://127.0.0.1:8000 pytest examples/test_my_code.py

Each test creates its own table (no async fixtures, so any pytest-asyncio loop scope works),
releases 50 calls of a function at the same instant and asserts on the outcome: the conditional
version lets exactly one caller claim a coupon; the naive read-then-write version lets several
callers "win" the same coupon (the bug this catches).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig

from harness.testing import race

ENDPOINT = os.environ.get("DDB_ENDPOINT", "http://127.0.0.1:8000")
CLIENT_KWARGS = {"endpoint_url": ENDPOINT, "region_name": "us-east-1",
                 "aws_access_key_id": "test", "aws_secret_access_key": "test"}


class AlreadyClaimed(Exception):
    """The coupon belongs to someone else."""


# ----- the code under test -------------------------------------------------------------------

async def claim_coupon(ddb: Any, table: str, code: str, customer: str) -> str:
    """Claim ``code`` for ``customer`` atomically; raises AlreadyClaimed if it is taken."""
    try:
        await ddb.put_item(TableName=table, Item={"Code": {"S": code}, "Customer": {"S": customer}},
                           ConditionExpression="attribute_not_exists(Code)")
    except ddb.exceptions.ConditionalCheckFailedException:
        raise AlreadyClaimed(code) from None
    return customer


async def claim_coupon_naively(ddb: Any, table: str, code: str, customer: str) -> str:
    """The racy way: read, decide in the client, write unconditionally."""
    found = await ddb.get_item(TableName=table, Key={"Code": {"S": code}}, ConsistentRead=True)
    if "Item" in found:
        raise AlreadyClaimed(code)
    await ddb.put_item(TableName=table, Item={"Code": {"S": code}, "Customer": {"S": customer}})
    return customer


# ----- a throwaway table ---------------------------------------------------------------------

@asynccontextmanager
async def coupon_table(endpoint: str | None = None) -> AsyncIterator[tuple[Any, str]]:
    """A DynamoDB client (pool big enough for the race) and a fresh table keyed by ``Code``."""
    name = f"coupons-{uuid.uuid4().hex[:8]}"
    config = AioConfig(max_pool_connections=64)
    kwargs = {**CLIENT_KWARGS, **({"endpoint_url": endpoint} if endpoint else {})}
    async with aioboto3.Session().client("dynamodb", config=config, **kwargs) as ddb:
        await ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "Code", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "Code", "KeyType": "HASH"}])
        await ddb.get_waiter("table_exists").wait(TableName=name)
        await warm_up(ddb, name)
        try:
            yield ddb, name
        finally:
            await ddb.delete_table(TableName=name)


async def warm_up(ddb: Any, table: str, connections: int = 50) -> None:
    """Open the pool's connections and load the SDK's operation models before the race.

    Otherwise the first calls of a race spend their time connecting, and the race measures that.
    """
    await ddb.put_item(TableName=table, Item={"Code": {"S": "warm-up"}})
    await asyncio.gather(*(ddb.get_item(TableName=table, Key={"Code": {"S": "warm-up"}})
                           for _ in range(connections)))


# ----- the tests -----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_conditional_claim_has_exactly_one_winner() -> None:
    async with coupon_table() as (ddb, table):
        result = await race(claim_coupon, workers=50, args_for=lambda w: (ddb, table, "SAVE10", f"customer-{w}"))
        winner = result.assert_exactly_one_winner()
        assert set(result.errors()) == {"AlreadyClaimed"}
        stored = await ddb.get_item(TableName=table, Key={"Code": {"S": "SAVE10"}}, ConsistentRead=True)
        assert stored["Item"]["Customer"]["S"] == winner.value


@pytest.mark.asyncio
async def test_naive_claim_lets_several_customers_win() -> None:
    async with coupon_table() as (ddb, table):
        result = await race(claim_coupon_naively, workers=50,
                            args_for=lambda w: (ddb, table, "SAVE20", f"customer-{w}"))
        assert len(result.winners) > 1, "the read-then-write race did not show up this time"
        with pytest.raises(AssertionError, match="exactly one winner"):
            result.assert_exactly_one_winner()
