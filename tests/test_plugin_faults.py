"""The plugin's fault proxy (issue 12): ``@pytest.mark.ddb_faults(...)`` + ``ddb_faulty_table`` put the harness's
FaultProxy between a test's own code and DynamoDB Local, and count what fired.

Negative control: an atomic counter (``ADD n :one``) that is correct without faults hands out gaps and
counts twice under lost-ack, because boto3's default retries resend the applied ADD, and the unique-sequence
check with ``allow_gaps=False`` must fail there. The positive side: the same counter without the proxy passes
(README's test_counter.py, and the first test here). Asyncio code goes through the proxy as well: a
conditional claim whose applied put loses its response is resent, fails its condition, and its caller is
told it lost to nobody (the unique-claim check's "no-winner").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checker import patterns
from harness.testing import race

BIN = Path(sys.executable).parent
WORKERS = 30


def next_number(ddb, table: str) -> int:
    answer = ddb.update_item(TableName=table, Key={"pk": {"S": "invoices"}}, UpdateExpression="ADD n :one",
                             ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    return int(answer["Attributes"]["n"]["N"])


def stored_number(table) -> int:
    item = table.client().get_item(TableName=table.name, Key={"pk": {"S": "invoices"}}, ConsistentRead=True)
    return int(item["Item"]["n"]["N"])


def test_the_counter_hands_out_every_number_once_without_faults(ddb_table):
    result = race(next_number, workers=WORKERS, args_for=lambda w: (ddb_table.client(), ddb_table.name))
    result.assert_unique_sequence(allow_gaps=False)
    assert stored_number(ddb_table) == WORKERS


@pytest.mark.ddb_faults("lost-ack:0.3", seed=1)
def test_lost_acks_make_the_retried_counter_count_twice(ddb_faulty_table):
    ddb = ddb_faulty_table.client()
    result = race(next_number, workers=WORKERS, args_for=lambda w: (ddb, ddb_faulty_table.name))
    lost = ddb_faulty_table.faults.hits("lost-ack", "UpdateItem")
    assert lost > 0 and ddb_faulty_table.faults.injected()["lost-ack"] == lost  # the fault really fired
    # botocore resent each lost ADD: applied twice, one number skipped per lost response
    stored = stored_number(ddb_faulty_table.direct)
    assert stored == len(result.winners) + lost, (stored, len(result.winners), lost, dict(result.errors()))
    # result.assert_unique_sequence(allow_gaps=False) fails here (and draws the report); the pure checker, faster:
    verdict = patterns.unique_sequence(result.ops, "next_number", allow_gaps=False)
    assert verdict.status == "invalid" and {v.kind for v in verdict.violations} == {"gap"}, verdict.violations


@pytest.mark.ddb_faults("latency:20ms", "reset:0.2", seed=2)
def test_latency_and_resets_reach_every_request_and_retries_hide_them(ddb_faulty_table):
    ddb = ddb_faulty_table.client()
    result = race(next_number, workers=10, args_for=lambda w: (ddb, ddb_faulty_table.name))
    faults = ddb_faulty_table.faults
    assert faults.counts["latency"] == faults.counts["requests"] > 0
    assert faults.injected()["reset"] > 0
    # a reset drops the request before it reaches the server, so the retry applies it once: no gap, no double
    result.assert_unique_sequence(allow_gaps=False)
    assert stored_number(ddb_faulty_table.direct) == len(result.winners) == 10


class AlreadyClaimed(Exception):
    pass


async def claim(ddb, table: str, code: str, customer: str) -> str:
    try:
        await ddb.put_item(TableName=table, Item={"pk": {"S": code}, "customer": {"S": customer}},
                           ConditionExpression="attribute_not_exists(pk)")
    except ddb.exceptions.ConditionalCheckFailedException:
        raise AlreadyClaimed(code) from None
    return customer


# seed 1 draws 0.134, then 0.847 (one draw per request): the first response is lost, the resend's answered
@pytest.mark.ddb_faults("lost-ack:0.5", seed=1)
async def test_an_async_claim_whose_response_is_lost_is_told_it_lost(ddb_faulty_table):
    import aioboto3

    async with aioboto3.Session().client("dynamodb", **ddb_faulty_table.endpoint.client_kwargs()) as ddb:
        result = await race(claim, workers=1, args_for=lambda w: (ddb, ddb_faulty_table.name, "SAVE10", "alice"))
    assert ddb_faulty_table.faults.hits("lost-ack", "PutItem", status=200) == 1
    assert result.winners == [] and result.errors() == {"AlreadyClaimed": 1}  # alice "lost" to nobody
    stored = ddb_faulty_table.direct.client().get_item(TableName=ddb_faulty_table.name, Key={"pk": {"S": "SAVE10"}})
    assert stored["Item"]["customer"]["S"] == "alice"  # she has it
    verdict = patterns.unique_claim(result.ops, "claim")
    assert verdict.status == "invalid" and [v.kind for v in verdict.violations] == ["no-winner"]


# ----- the marker as a user meets it (a subprocess pytest) ------------------------------------------------------

def run_user_test(tmp_path: Path, text: str, endpoint) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(text)
    return subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--ddb-endpoint", endpoint.url,
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=dict(os.environ))


def test_a_bad_fault_spec_or_a_missing_marker_is_one_line(tmp_path, local_endpoint):
    proc = run_user_test(tmp_path, '''
import pytest

@pytest.mark.ddb_faults("lost-ack:2")
def test_bad_spec(ddb_faulty_table):
    pass

@pytest.mark.ddb_faults("crash:every=1s")
def test_crash(ddb_faulty_table):
    pass

def test_no_marker(ddb_faulty_table):
    pass
''', local_endpoint)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "3 errors" in out, out[-3000:]
    assert "@pytest.mark.ddb_faults: bad fault spec 'lost-ack:2': probability must be in (0, 1]" in out
    assert "crash faults restart the session's server" in out
    assert "ddb_faults/ddb_faulty_table need the faults to inject: @pytest.mark.ddb_faults('lost-ack:0.2')" in out
    assert "Traceback" not in out


def test_a_user_test_sees_its_faults_fire(tmp_path, local_endpoint):
    proc = run_user_test(tmp_path, '''
import pytest

@pytest.mark.ddb_faults("lost-ack:1")
def test_every_response_is_lost(ddb_faulty_table):
    ddb = ddb_faulty_table.client(retries={"max_attempts": 0})
    with pytest.raises(Exception, match="Connection was closed"):
        ddb.put_item(TableName=ddb_faulty_table.name, Item={"pk": {"S": "a"}})
    assert ddb_faulty_table.faults.hits("lost-ack", "PutItem") == 1
    direct = ddb_faulty_table.direct.client()
    assert "Item" in direct.get_item(TableName=ddb_faulty_table.name, Key={"pk": {"S": "a"}})  # it was applied
''', local_endpoint)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, (proc.stdout + proc.stderr)[-3000:]
