"""Race-testing your own DynamoDB code: a lock with a lease, a counter and an optimistic save (plain boto3).

Run it with nothing started by hand::

    pytest examples/test_my_lock.py

The ddb-stress pytest plugin (installed with the package) starts a DynamoDB Local for the session
(``ddb_endpoint``) and makes a fresh table per test (``ddb_table``). ``race`` releases N threads at one
barrier, ``hammer`` keeps them calling for a while; every call is recorded in a run directory and the
``assert_*`` methods check it. A failing assertion prints where the history and its report are.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from harness.testing import hammer, race, recorded

LEASE_S = 2.0


class LockBusy(Exception):
    """Someone else holds the lock (and their lease has not run out)."""


class VersionConflict(Exception):
    """The item changed since it was read."""


# ----- the code under test --------------------------------------------------------------------------------------

def acquire_lock(ddb: Any, table: str, name: str, owner: str, lease_s: float) -> str:
    """Take lock ``name`` for ``owner`` for ``lease_s`` seconds, if it is free or its lease ran out."""
    now = time.time()
    try:
        ddb.put_item(TableName=table,
                     Item={"LockName": {"S": name}, "Owner": {"S": owner}, "Expires": {"N": f"{now + lease_s:.6f}"}},
                     ConditionExpression="attribute_not_exists(LockName) OR Expires < :now",
                     ExpressionAttributeValues={":now": {"N": f"{now:.6f}"}})
    except ddb.exceptions.ConditionalCheckFailedException:
        raise LockBusy(name) from None
    return owner


def release_lock(ddb: Any, table: str, name: str, owner: str) -> None:
    """Give lock ``name`` back, if ``owner`` still holds it."""
    # A failed condition: the lease ran out and someone else took the lock, so there is nothing of ours to release.
    with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(TableName=table, Key={"LockName": {"S": name}}, ConditionExpression="#owner = :me",
                        ExpressionAttributeNames={"#owner": "Owner"},  # OWNER is a reserved word
                        ExpressionAttributeValues={":me": {"S": owner}})


def next_invoice_number(ddb: Any, table: str) -> int:
    """The next number of the invoice counter (an atomic ADD)."""
    answer = ddb.update_item(TableName=table, Key={"LockName": {"S": "invoice-counter"}}, UpdateExpression="ADD N :one",
                             ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    return int(answer["Attributes"]["N"]["N"])


def load_points(ddb: Any, table: str, player: str) -> tuple[int, int]:
    """(version, points) of a player; (0, 0) before the first save."""
    item = ddb.get_item(TableName=table, Key={"LockName": {"S": player}}, ConsistentRead=True).get("Item")
    return (int(item["Version"]["N"]), int(item["Points"]["N"])) if item else (0, 0)


def save_points(ddb: Any, table: str, player: str, expected_version: int, points: int) -> int:
    """Store ``points`` if the item is still at ``expected_version``; returns the new version."""
    condition = "attribute_not_exists(LockName)" if expected_version == 0 else "Version = :expected"
    values = {} if expected_version == 0 else {"ExpressionAttributeValues": {":expected": {"N": str(expected_version)}}}
    try:
        ddb.put_item(TableName=table, Item={"LockName": {"S": player}, "Version": {"N": str(expected_version + 1)},
                                            "Points": {"N": str(points)}},
                     ConditionExpression=condition, **values)
    except ddb.exceptions.ConditionalCheckFailedException:
        raise VersionConflict(player) from None
    return expected_version + 1


# ----- the tests ----------------------------------------------------------------------------------------------

@pytest.mark.ddb_table(hash_key="LockName")
def test_the_lock_never_has_two_holders(ddb_table):
    ddb, acquire, release = ddb_table.client(), recorded(acquire_lock, key="name"), recorded(release_lock, key="name")

    def use_the_lock(worker: int) -> None:
        owner = f"worker-{worker}"
        try:
            acquire(ddb, ddb_table.name, "nightly-report", owner, LEASE_S)
        except LockBusy:
            return
        time.sleep(0.002)  # the critical section
        release(ddb, ddb_table.name, "nightly-report", owner)

    result = hammer(use_the_lock, workers=8, duration=2.0, args_for=lambda worker: (worker,))
    result.assert_mutual_exclusion("acquire_lock", "release_lock", lease_s=LEASE_S)
    assert result.calls("acquire_lock") > 1  # the lock changed hands: the check had something to check


@pytest.mark.ddb_table(hash_key="LockName")
def test_a_burst_of_acquires_has_exactly_one_winner(ddb_table):
    ddb = ddb_table.client()
    result = race(acquire_lock, workers=50, args_for=lambda w: (ddb, ddb_table.name, "deploy", f"worker-{w}", 60.0))
    result.assert_exactly_one_winner()
    assert set(result.errors()) == {"LockBusy"}


@pytest.mark.ddb_table(hash_key="LockName")
def test_invoice_numbers_are_never_handed_out_twice(ddb_table):
    ddb = ddb_table.client()
    result = race(next_invoice_number, workers=50, args_for=lambda w: (ddb, ddb_table.name))
    gaps = result.assert_unique_sequence(allow_gaps=False)
    assert gaps == {} and sorted(a.value for a in result.winners) == list(range(1, 51))


@pytest.mark.ddb_table(hash_key="LockName")
def test_optimistic_saves_lose_no_update(ddb_table):
    ddb, save = ddb_table.client(), recorded(save_points, key="player")

    def add_a_point(worker: int) -> None:
        version, points = load_points(ddb, ddb_table.name, "player-1")
        with contextlib.suppress(VersionConflict):  # someone saved first: a real caller would reload and retry
            save(ddb, ddb_table.name, "player-1", version, points + 1)

    result = hammer(add_a_point, workers=6, duration=2.0, args_for=lambda worker: (worker,))
    version, points = load_points(ddb, ddb_table.name, "player-1")
    result.assert_versioned_update("save_points", "expected_version", final_version=version, initial_version=0)
    assert points == result.calls("save_points")  # every successful save's point is in the final value
