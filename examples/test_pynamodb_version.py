"""PynamoDB's optimistic locking (``VersionAttribute``) raced with threads, with and without lost responses.

Run it with nothing started by hand (the ddb-stress pytest plugin starts a DynamoDB Local)::

    pytest examples/test_pynamodb_version.py

What it shows (PynamoDB 6.1, its default retry settings: botocore "standard" mode, 3 retries):

* retry-on-conflict holds: N threads × K increments end at exactly N × K, every save moved v → v+1;
* without the retry, at most one save wins per version; without the version condition saves overwrite
  each other, and the versioned-update check catches it (the check's negative control);
* **under lost responses it breaks**: a save whose response is lost was applied, botocore resends it, the
  resend fails its version condition, and PynamoDB raises ``PutError`` (ConditionalCheckFailed) for a save
  that happened. The application retries on that conflict, so the increment is applied twice: the counter
  ends *above* N × K, by exactly one per lost response of an applied PutItem. Even one thread alone, with no
  one to conflict with, is told "someone saved first" about its own save. Latency alone (late, not lost,
  responses) keeps it exact.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from harness.checker import patterns
from harness.testing import race, recorded

WORKERS, INCREMENTS = 4, 5  # N threads × K increments each
MAX_ROUNDS = 5  # lost-ack rounds until a lost response hit an applied save (one round almost always does)


# ----- the code under test --------------------------------------------------------------------------------------

class Counter(Model):
    """A counter item with PynamoDB's optimistic locking: every save is conditioned on ``version``."""

    class Meta:
        table_name = "bound-per-test"  # see counter_model()

    pk = UnicodeAttribute(hash_key=True)
    count = NumberAttribute(default=0)
    version = VersionAttribute()


def counter_model(table: Any) -> type[Counter]:
    """``Counter`` bound to a test's table and endpoint (PynamoDB reads both from ``Meta``)."""
    endpoint = table.endpoint

    class BoundCounter(Counter):
        class Meta:
            table_name = table.name
            host = endpoint.url
            region = endpoint.region
            aws_access_key_id = endpoint.credentials["aws_access_key_id"]
            aws_secret_access_key = endpoint.credentials["aws_secret_access_key"]
            max_pool_connections = 32  # the biggest race here has 20 threads

    return BoundCounter


def is_conflict(error: PutError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


@recorded(key=lambda item, expected_version, **_: item.pk)
def save_counter(item: Counter, expected_version: int, **options: Any) -> int:
    """PynamoDB's ``save`` (conditioned on ``expected_version``, the loaded version); returns the new version."""
    item.save(**options)
    return item.version


def increment(model: type[Counter], pk: str) -> int:
    """Add one to the counter, reloading and retrying on a version conflict (the documented pattern)."""
    while True:
        item = model.get(pk, consistent_read=True)
        item.count += 1
        try:
            return save_counter(item, item.version)
        except PutError as error:
            if not is_conflict(error):
                raise


def increment_once(model: type[Counter], pk: str) -> bool:
    """Add one to the counter unless someone saved first (no retry): True if this save won."""
    item = model.get(pk, consistent_read=True)
    item.count += 1
    try:
        save_counter(item, item.version)
    except PutError as error:
        if not is_conflict(error):
            raise
        return False
    return True


def increments(model: type[Counter], pk: str) -> None:
    for _ in range(INCREMENTS):
        increment(model, pk)


# ----- the tests ----------------------------------------------------------------------------------------------

def stored(model: type[Counter], pk: str) -> Counter:
    return model.get(pk, consistent_read=True)


def test_retry_on_conflict_counts_every_increment(ddb_table):
    model = counter_model(ddb_table)
    model("visits").save()  # version 1, count 0
    result = race(increments, workers=WORKERS, args_for=lambda w: (model, "visits"))
    final = stored(model, "visits")
    assert final.count == WORKERS * INCREMENTS
    result.assert_versioned_update("save_counter", "expected_version", final_version=final.version, initial_version=1)
    assert result.calls("save_counter") == WORKERS * INCREMENTS


def test_without_retries_at_most_one_save_per_version(ddb_table):
    model = counter_model(ddb_table)
    model("visits").save()
    result = race(increment_once, workers=20, args_for=lambda w: (model, "visits"))
    final = stored(model, "visits")
    result.assert_versioned_update("save_counter", "expected_version", final_version=final.version, initial_version=1)
    assert final.count == sum(1 for a in result.winners if a.value) == final.version - 1 >= 1


def test_without_the_version_condition_saves_overwrite_each_other(ddb_table):
    """The check's negative control: every thread loads version 1 (a barrier holds them until all have), then
    saves with ``add_version_condition=False``; all 10 saves succeed from one version."""
    model, loaded = counter_model(ddb_table), threading.Barrier(10)
    model("visits").save()

    def blind_increment() -> None:
        item = model.get("visits", consistent_read=True)
        loaded.wait()
        item.count += 1
        save_counter(item, item.version, add_version_condition=False)

    result = race(blind_increment, workers=10)
    final = stored(model, "visits")
    assert final.count == 1  # ten increments, one survived
    # result.assert_versioned_update(...) fails here and draws the report; the pure checker says the same, faster
    verdict = patterns.versioned_update(result.ops, "save_counter", "expected_version", final_version=final.version)
    assert verdict.status == "invalid" and "10 saves succeeded from version 1" in verdict.violations[0].message


@pytest.mark.ddb_faults("latency:30ms±10ms", seed=4)
def test_late_responses_keep_the_count_exact(ddb_faulty_table):
    model = counter_model(ddb_faulty_table)
    counter_model(ddb_faulty_table.direct)("visits").save()
    result = race(increments, workers=WORKERS, args_for=lambda w: (model, "visits"))
    faults = ddb_faulty_table.faults
    assert faults.counts["latency"] == faults.counts["requests"] > WORKERS * INCREMENTS
    final = stored(counter_model(ddb_faulty_table.direct), "visits")
    assert final.count == WORKERS * INCREMENTS
    result.assert_versioned_update("save_counter", "expected_version", final_version=final.version, initial_version=1)


@pytest.mark.ddb_faults("lost-ack:0.1", seed=5)
def test_lost_responses_make_retry_on_conflict_count_twice(ddb_faulty_table):
    """The finding: lost PutItem responses turn applied saves into conflicts, and the retry applies them again.

    Exact accounting: every applied save either answered 200 (its increment returned) or had its 200 lost
    by the proxy, so the counter = increments that returned + lost 200s of PutItem, and each lost one is an
    increment the application did not know it had made. Rounds until one 200 was lost (nearly always the
    first; a lost 400, a conflict's answer, changes nothing).
    """
    model, direct = counter_model(ddb_faulty_table), counter_model(ddb_faulty_table.direct)
    direct("visits").save()
    faults, returned, rounds = ddb_faulty_table.faults, 0, 0
    while rounds < MAX_ROUNDS and faults.hits("lost-ack", "PutItem", status=200) == 0:
        result = race(increments, workers=WORKERS, args_for=lambda w: (model, "visits"))
        returned += result.calls("save_counter")  # saves that returned; a worker whose retries ran out stops
        rounds += 1
    applied_unseen = faults.hits("lost-ack", "PutItem", status=200)
    assert applied_unseen > 0, f"no applied save lost its response in {rounds} rounds: {faults.injected()}"
    final = stored(direct, "visits")
    assert final.count == returned + applied_unseen > returned, (final.count, returned, applied_unseen)
    assert final.version == 1 + final.count  # each of those was a real save, not a miscount
    # the last round's history shows it too: more versions stored than saves returned (the pure checker: no report)
    verdict = patterns.versioned_update(result.ops, "save_counter", "expected_version", final_version=final.version)
    assert verdict.status == "invalid" and {v.kind for v in verdict.violations} == {"final-version"}
    print(f"\n{returned} increments returned, counter at {final.count}: {applied_unseen} applied twice "
          f"(a lost 200 retried into a conflict, then retried by the app) in {rounds} round(s); "
          f"faults {faults.injected()}, PutItem responses lost {faults.hits('lost-ack', 'PutItem')}, "
          f"errors {dict(result.errors())}")


@pytest.mark.ddb_faults("lost-ack:0.1", seed=6)
def test_alone_a_lost_response_reads_as_a_conflict(ddb_faulty_table):
    """One thread, no contention: save until one applied save loses its response; PynamoDB calls it a conflict."""
    model, direct = counter_model(ddb_faulty_table), counter_model(ddb_faulty_table.direct)
    direct("visits").save()
    faults, won = ddb_faulty_table.faults, []
    while len(won) < 100 and faults.hits("lost-ack", "PutItem", status=200) == 0:
        won.append(increment_once(model, "visits"))
    assert faults.hits("lost-ack", "PutItem", status=200) == 1, f"no applied save lost its response: {faults.events}"
    assert won[-1] is False and all(won[:-1])  # the last save "lost to someone", and there is no one else
    assert stored(direct, "visits").count == len(won)  # it was applied all the same
