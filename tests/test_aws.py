"""The AWS code path, against a moto server posing as AWS (endpoint override, fake credentials)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from harness.backends.aws import Plan, table_tags
from tests.conftest import REPO, STRESS, run_stress, sigint_as_at_a_terminal

SECRET = "S3cr3t-Marker-7f1d9c0e"
FAKE_ENV = {"AWS_ACCESS_KEY_ID": "AKIADDBSTRESSTEST", "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_SESSION_TOKEN": "Tok3n-Marker-2b8e", "AWS_DEFAULT_REGION": "us-east-1"}


def aws_args(moto_endpoint, *extra: str) -> list[str]:
    return ["run", "--backend", "aws", "--endpoint-url", moto_endpoint.url, "--region", "us-east-1", *extra]


def ddb(moto_endpoint):
    return boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1",
                        aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=SECRET)


def run_tables(moto_endpoint, run_dir_root: Path) -> list[str]:
    """Tables left behind by runs whose directories are under ``run_dir_root``."""
    run_ids = [p.name for p in run_dir_root.iterdir() if p.is_dir()]
    names = ddb(moto_endpoint).list_tables()["TableNames"]
    return [n for n in names if any(run_id in n for run_id in run_ids)]


def test_plan_is_printed_and_nothing_runs_without_yes(moto_endpoint, tmp_path):
    proc = run_stress(*aws_args(moto_endpoint, "--workers", "5", "--keys", "2", "--reports-dir", str(tmp_path)),
                      env=FAKE_ENV)
    assert proc.returncode == 2
    assert "refusing to send requests to AWS without --yes" in proc.stderr
    assert "AWS account 123456789012, region us-east-1" in proc.stderr
    assert "estimated cost: $" in proc.stderr and "put_item" in proc.stderr
    assert run_tables(moto_endpoint, tmp_path) == []
    assert not list(tmp_path.glob("*/history.jsonl"))


def test_run_with_yes_cleans_up_and_leaks_no_credentials(moto_endpoint, tmp_path):
    proc = run_stress(*aws_args(moto_endpoint, "--workers", "10", "--keys", "2", "--yes", "--json",
                                "--reports-dir", str(tmp_path)), env=FAKE_ENV)
    assert proc.returncode in (0, 1), proc.stderr
    assert run_tables(moto_endpoint, tmp_path) == []
    for marker in (SECRET, FAKE_ENV["AWS_SESSION_TOKEN"]):
        assert marker not in proc.stdout and marker not in proc.stderr
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert marker.encode() not in path.read_bytes(), f"{marker} leaked into {path}"


def test_cost_estimate_counts_units():
    plan = Plan("1", "us-east-1", ["t"], {"put_item": 1_000_000, "transact_write_items": 1_000_000,
                                           "get_item": 2_000_000})
    assert plan.cost_usd() == pytest.approx(3 * 0.625 + 2 * 0.125)


def test_cleanup_deletes_tagged_orphans_and_spares_untagged(moto_endpoint):
    client = ddb(moto_endpoint)
    schema = {"AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
              "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}], "BillingMode": "PAY_PER_REQUEST"}
    client.create_table(TableName="ddbstress-20200101-000000-aaaa-registration", Tags=table_tags("x"), **schema)
    client.create_table(TableName="ddbstress-20200101-000000-bbbb-untagged", **schema)
    client.create_table(TableName="someone-elses-table", **schema)
    base = ["cleanup", "--endpoint-url", moto_endpoint.url, "--region", "us-east-1", "--older-than", "0s"]
    listing = run_stress(*base, env=FAKE_ENV)
    assert listing.returncode == 0, listing.stderr
    assert "would delete: ddbstress-20200101-000000-aaaa-registration" in listing.stdout
    assert "skipped (not tagged created-by=ddb-stress): ddbstress-20200101-000000-bbbb-untagged" in listing.stdout
    assert "ddbstress-20200101-000000-aaaa-registration" in client.list_tables()["TableNames"]
    deleted = run_stress(*base, "--yes", env=FAKE_ENV)
    assert deleted.returncode == 0, deleted.stderr
    names = client.list_tables()["TableNames"]
    assert "ddbstress-20200101-000000-aaaa-registration" not in names
    assert "ddbstress-20200101-000000-bbbb-untagged" in names and "someone-elses-table" in names
    client.delete_table(TableName="ddbstress-20200101-000000-bbbb-untagged")
    client.delete_table(TableName="someone-elses-table")


def test_existing_table_needs_opt_in_is_never_deleted_and_only_gets_our_keys(moto_endpoint, tmp_path):
    client = ddb(moto_endpoint)
    client.create_table(TableName="users-prod-like", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "Username", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "Username", "KeyType": "HASH"}])
    client.put_item(TableName="users-prod-like", Item={"Username": {"S": "alice"}, "Role": {"S": "admin"}})
    args = aws_args(moto_endpoint, "--workers", "5", "--keys", "2", "--yes", "--table", "users-prod-like",
                    "--reports-dir", str(tmp_path))
    refused = run_stress(*args, env=FAKE_ENV)
    assert refused.returncode == 2 and "--allow-existing-table" in refused.stderr
    proc = run_stress(*args, "--allow-existing-table", env=FAKE_ENV)
    assert proc.returncode in (0, 1), proc.stderr
    assert "users-prod-like" in client.list_tables()["TableNames"]
    keys = [item["Username"]["S"] for item in client.scan(TableName="users-prod-like")["Items"]]
    assert "alice" in keys
    assert all(k == "alice" or k.startswith("ddbstress-") for k in keys), keys
    alice = client.get_item(TableName="users-prod-like", Key={"Username": {"S": "alice"}})["Item"]
    assert alice["Role"]["S"] == "admin"
    client.delete_table(TableName="users-prod-like")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_at_random_points_leaves_no_table(moto_endpoint, tmp_path, sig):
    rng = random.Random(sig.value)
    for delay in (rng.uniform(0.3, 1.5), rng.uniform(1.5, 4.0)):
        proc = subprocess.Popen([*STRESS, *aws_args(moto_endpoint, "--workers", "20", "--keys", "40", "--rounds", "5",
                                                    "--yes", "--reports-dir", str(tmp_path))],
                                cwd=REPO, env={**__import__("os").environ, **FAKE_ENV},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=sigint_as_at_a_terminal)
        time.sleep(delay)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert "Traceback" not in err, err
        assert run_tables(moto_endpoint, tmp_path) == [], f"table left after {sig.name} at {delay:.1f}s"
