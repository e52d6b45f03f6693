"""``python-dynamodb-lock`` (0.9.1, the PyPI port of AWS's DynamoDB lock client) raced for mutual exclusion.

Run it with nothing started by hand (the ddb-stress pytest plugin starts a DynamoDB Local)::

    pytest examples/test_dynamodb_lock.py

Each worker is one ``DynamoDBLockClient`` (as one process of a service would be), with a short lease so the
tests take seconds: heartbeats every 0.1 s renew a 1.25 s lease. What it shows:

* without faults the lock holds: clients acquiring, working and releasing in a loop never overlap, and a
  client that keeps the lock past its lease (renewed by heartbeats) keeps it;
* **a lost heartbeat response breaks it**: the holder's heartbeat (an UpdateItem conditioned on the record
  version it just replaced) is applied, its response lost, botocore resends it, and the resend fails its
  condition. The client takes its own heartbeat for a theft: it marks the lock ``INVALID``, stops
  heartbeating and tells ``app_callback`` ``LOCK_STOLEN`` (no one is told with the default
  ``app_callback=None``). One lease later another client acquires the lock while the first is still
  working under it: the mutual-exclusion check fails. Only the holder's requests go through the proxy.

Also noticed: a lease that is not a binary fraction (``lease_duration=timedelta(seconds=1.2)``) fails every
acquire with ``DynamoDBLockError`` UNKNOWN: the client stores ``Decimal.from_float(1.2)``, which boto3 refuses
as inexact. 1.25 s (and whole seconds, like the default 30 s) work.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import boto3
import pytest
from python_dynamodb_lock.python_dynamodb_lock import DynamoDBLock, DynamoDBLockClient, DynamoDBLockError

from harness.checker import patterns
from harness.testing import hammer, race, recorded

# The library's defaults are a 5 s heartbeat, a 20 s safe period and a 30 s lease; these keep its ratios roughly
# and the tests short. The safe period (no successful heartbeat for that long: the lock is "in danger" and the
# heartbeats stop) is 10 heartbeats: at 0.6 s a loaded 2-core machine once stalled the heartbeat thread past it.
HEARTBEAT_S, SAFE_S, LEASE_S = 0.1, 1.0, 1.25  # 1.2 s would fail: see the docstring
HOLD_S = 2.5 * LEASE_S  # a long job: kept past its lease only by the heartbeats
LOCK_TABLE = pytest.mark.ddb_table(hash_key="lock_key", range_key="sort_key")  # the library's key schema


def lock_client(table: Any, lease_s: float = LEASE_S) -> DynamoDBLockClient:
    """A lock client on the test's table (its own boto3 resource, default retries), short lease and heartbeat."""
    resource = boto3.resource("dynamodb", **table.endpoint.client_kwargs())
    return DynamoDBLockClient(resource, table_name=table.name, heartbeat_period=datetime.timedelta(seconds=HEARTBEAT_S),
                              safe_period=datetime.timedelta(seconds=SAFE_S),
                              lease_duration=datetime.timedelta(seconds=lease_s))


@recorded(key=lambda client, name, **_: name)
def acquire(client: DynamoDBLockClient, name: str, **options: Any) -> DynamoDBLock:
    """The library's acquire (it polls every heartbeat period until the lock is free or its lease ran out)."""
    return client.acquire_lock(name, **options)


@recorded(key=lambda lock: lock.partition_key)
def release(lock: DynamoDBLock) -> str:
    """Release; returns the lock's status just before (``LOCKED``, or ``INVALID`` once the client gave it up)."""
    status = lock.status
    lock.release()
    return status


def closing(*clients: DynamoDBLockClient) -> None:
    for client in clients:
        client.close()


# ----- the tests ----------------------------------------------------------------------------------------------

@LOCK_TABLE
def test_clients_taking_turns_never_overlap(ddb_table):
    clients = [lock_client(ddb_table) for _ in range(4)]

    def take_a_turn(worker: int) -> None:
        try:
            lock = acquire(clients[worker], "nightly-report", retry_timeout=datetime.timedelta(seconds=2 * LEASE_S))
        except DynamoDBLockError as error:
            if error.code != DynamoDBLockError.ACQUIRE_TIMEOUT:
                raise
            return
        time.sleep(0.01)  # the job
        release(lock)

    try:
        result = hammer(take_a_turn, workers=4, duration=2.0, args_for=lambda worker: (worker,))
    finally:
        closing(*clients)
    result.assert_mutual_exclusion("acquire", "release")  # no lease in the check: a holder holds until release
    assert result.calls("acquire") > 4  # the lock changed hands: the check had something to check


def hold_and_wait(holder: DynamoDBLockClient, waiter: DynamoDBLockClient, told: list[str] | None = None) -> Any:
    """Worker 0 takes the lock and works for HOLD_S (past the lease: its heartbeats keep it); worker 1 asks for it
    once worker 0 has it, waiting up to the whole job, and works 0.1 s when it gets it. What the library tells
    worker 0's ``app_callback`` goes to ``told`` (none by default, as in the library)."""
    held = threading.Event()
    callback = None if told is None else (lambda code, lock: told.append(code))

    def work(worker: int) -> str:
        if worker == 0:
            lock = acquire(holder, "deploy", app_callback=callback)
            held.set()
            time.sleep(HOLD_S)
            return release(lock)
        held.wait(10 * LEASE_S)
        lock = acquire(waiter, "deploy", retry_timeout=datetime.timedelta(seconds=HOLD_S + 2 * LEASE_S))
        time.sleep(0.1)
        return release(lock)

    try:
        return race(work, workers=2, args_for=lambda worker: (worker,))
    finally:
        closing(holder, waiter)


@LOCK_TABLE
def test_heartbeats_keep_the_lock_past_its_lease(ddb_table):
    result = hold_and_wait(lock_client(ddb_table), lock_client(ddb_table))
    result.assert_mutual_exclusion("acquire", "release")
    assert [a.value for a in result.attempts] == ["LOCKED", "LOCKED"]  # both held it, one after the other


@LOCK_TABLE
@pytest.mark.ddb_faults("lost-ack:0.2", seed=1)
def test_a_lost_heartbeat_response_lets_a_second_client_in(ddb_faulty_table):
    """The finding (see the module docstring): only the holder goes through the proxy."""
    told: list[str] = []
    result = hold_and_wait(lock_client(ddb_faulty_table), lock_client(ddb_faulty_table.direct), told)
    faults = ddb_faulty_table.faults
    lost_heartbeats = faults.hits("lost-ack", "UpdateItem", status=200)
    assert lost_heartbeats >= 1, (f"no applied heartbeat lost its response: {faults.counts}, "
                                  f"{[(e.get('target'), e.get('status')) for e in faults.events]}, {result.attempts}")
    assert [a.value for a in result.attempts] == ["INVALID", "LOCKED"]  # the holder gave up its own lock
    time.sleep(0.2)  # the callback runs on the library's executor
    assert told == ["LOCK_STOLEN"]
    verdict = patterns.mutual_exclusion(result.ops, "acquire", "release")  # the assert_ method would draw a report
    assert verdict.status == "invalid" and [v.kind for v in verdict.violations] == ["overlapping-holders"]
    print(f"\n{verdict.violations[0].message}; lost heartbeat responses {lost_heartbeats}, faults {faults.injected()}")


@LOCK_TABLE
def test_a_lease_of_1_2_seconds_fails_every_acquire(ddb_table):
    client = lock_client(ddb_table, lease_s=1.2)
    try:
        with pytest.raises(DynamoDBLockError) as caught:
            client.acquire_lock("anything")
    finally:
        closing(client)
    assert caught.value.code == DynamoDBLockError.UNKNOWN and "Inexact" in caught.value.message
