"""Testing your own DynamoDB code for races with ``harness.testing.race`` (pytest + pytest-asyncio).

Run it against a DynamoDB you started::

    stress local start --port 8000
    DDB_ENDPOINT=http://127.0.0.1:8000 pytest examples/test_my_code.py

or leave ``DDB_ENDPOINT`` unset and the module starts (and stops) its own DynamoDB Local. An endpoint
that does not answer fails both tests at once, naming the fix, instead of after the SDK's retries.

Each test creates its own table (no async fixtures, so any pytest-asyncio loop scope works),
releases 50 calls of a function at the same instant and asserts on the outcome: the conditional
version lets exactly one caller claim a coupon; the naive read-then-write version lets several
callers "win" the same coupon (the bug this catches; a race is a chance to show it, not a promise, so
that one gets up to five races).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aioboto3
import pytest
from aiobotocore.config import AioConfig

from harness.testing import RaceResult, race

ENDPOINT = os.environ.get("DDB_ENDPOINT")  # unset: this module starts its own DynamoDB Local
CLIENT_KWARGS = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
PROBE_TIMEOUT_S = 1.0
NAIVE_RACES = 5  # chances the naive claim gets to show its bug (see race_naive_claims)
HOW_TO_START = ("start one with `stress local start --port 8000` and run "
                "`DDB_ENDPOINT=http://127.0.0.1:8000 pytest examples/test_my_code.py`, "
                "or unset DDB_ENDPOINT to let this file start its own DynamoDB Local")


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


# ----- a DynamoDB to race against, and a throwaway table --------------------------------------

@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """``$DDB_ENDPOINT`` once it answers, else a DynamoDB Local started for this module.

    Probed once, with a short connect timeout: without a server every test would otherwise wait
    for the SDK's connection retries before failing. (pytest keeps a module fixture's failure, so
    the second test fails at once with the same message.)
    """
    if ENDPOINT:
        require_reachable(ENDPOINT)
        yield ENDPOINT
        return
    from harness.backends import local_install  # only needed when we start our own
    from harness.backends import servers as backends

    server, problem = None, None
    try:
        server = backends.LocalServer(local_install.find_jar_home() or local_install.install())
        url = server.start().url
    except Exception as exc:  # no Java, no jar and no way to install it, ...
        problem = f"could not start a DynamoDB Local ({exc}): {HOW_TO_START}"
    if problem is not None:
        if server is not None:
            server.stop()
        pytest.fail(problem, pytrace=False)  # outside the except: the message alone, no chained traceback
    try:
        yield url
    finally:
        server.stop()


def require_reachable(url: str) -> None:
    """Fail the test (not hang it) when nothing accepts connections at ``url``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=PROBE_TIMEOUT_S).close()
        return
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
    pytest.fail(f"no DynamoDB answers at {url} (DDB_ENDPOINT): {reason}; {HOW_TO_START}", pytrace=False)


@asynccontextmanager
async def coupon_table(endpoint: str) -> AsyncIterator[tuple[Any, str]]:
    """A DynamoDB client (pool big enough for the race) and a fresh table keyed by ``Code``."""
    name = f"coupons-{uuid.uuid4().hex[:8]}"
    config = AioConfig(max_pool_connections=64)
    async with aioboto3.Session().client("dynamodb", config=config, endpoint_url=endpoint, **CLIENT_KWARGS) as ddb:
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
async def test_conditional_claim_has_exactly_one_winner(endpoint: str) -> None:
    async with coupon_table(endpoint) as (ddb, table):
        result = await race(claim_coupon, workers=50, args_for=lambda w: (ddb, table, "SAVE10", f"customer-{w}"))
        winner = result.assert_exactly_one_winner()
        assert set(result.errors()) == {"AlreadyClaimed"}
        stored = await ddb.get_item(TableName=table, Key={"Code": {"S": "SAVE10"}}, ConsistentRead=True)
        assert stored["Item"]["Customer"]["S"] == winner.value


async def race_naive_claims(ddb: Any, table: str, races: int = NAIVE_RACES) -> RaceResult:
    """Race ``claim_coupon_naively`` on fresh coupons until one has several winners (at most ``races`` races).

    A race only shows the bug when a second read lands before the first write: nearly always here, but once
    in a full test run on a loaded 2-core machine a race had a single winner. So the bug gets a few chances
    and the test still fails if it never shows.
    """
    for n in range(races):
        result = await race(claim_coupon_naively, workers=50,
                            args_for=lambda w, code=f"SAVE20-{n}": (ddb, table, code, f"customer-{w}"))
        if len(result.winners) > 1:
            break
    return result


@pytest.mark.asyncio
async def test_naive_claim_lets_several_customers_win(endpoint: str) -> None:
    async with coupon_table(endpoint) as (ddb, table):
        result = await race_naive_claims(ddb, table)
        assert len(result.winners) > 1, f"the read-then-write race did not show up in {NAIVE_RACES} races"
        with pytest.raises(AssertionError, match="exactly one winner"):
            result.assert_exactly_one_winner()
