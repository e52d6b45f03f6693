"""Real AWS without fear: the plan and cost estimate shown before any request, and orphan cleanup."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions

from harness.backends.endpoint import Endpoint
from harness.errors import UsageError

# On-demand prices, us-east-1, USD, as published by AWS for DynamoDB Standard tables, taken
# 2026-11-27 (unchanged since the 2024-11-01 price cut). Other regions cost up to ~1.5x more.
PRICES_TAKEN = "2026-11-27"
USD_PER_MILLION_WRITE_UNITS = 0.625
USD_PER_MILLION_READ_UNITS = 0.125

# Write request units per call for items under 1 KB; a failed conditional write still costs its units.
WRITE_UNITS = {"put_item": 1, "update_item": 1, "delete_item": 1, "transact_write_items": 2}
READ_UNITS = {"get_item": 1, "scan": 1, "query": 1}  # strongly consistent, items under 4 KB

TAG_CREATED_BY = ("created-by", "ddb-stress")
TABLE_PREFIX = "ddbstress-"
_RUN_ID_TIME = re.compile(r"^ddbstress-(\d{8}-\d{6})-")


@dataclass
class Plan:
    """What a run will do to an AWS account, shown before it does anything."""

    account: str
    region: str
    tables: list[str]
    requests: Counter[str]

    def cost_usd(self) -> float:
        """Estimated on-demand cost of the planned requests."""
        writes = sum(n * WRITE_UNITS.get(op, 1) for op, n in self.requests.items() if op not in READ_UNITS)
        reads = sum(n * READ_UNITS[op] for op, n in self.requests.items() if op in READ_UNITS)
        return writes / 1e6 * USD_PER_MILLION_WRITE_UNITS + reads / 1e6 * USD_PER_MILLION_READ_UNITS

    def describe(self) -> str:
        """The plan as a few lines for the terminal."""
        ops = ", ".join(f"{op} ×{n:,}" for op, n in sorted(self.requests.items()))
        return "\n".join([
            f"AWS account {self.account}, region {self.region}",
            f"tables to create (deleted at the end): {', '.join(self.tables)}",
            f"requests: {ops}",
            f"estimated cost: {format_usd(self.cost_usd())} on-demand (us-east-1 prices of {PRICES_TAKEN}; "
            "items under 1 KB; plus CreateTable/DeleteTable, which are free)",
        ])


def format_usd(amount: float) -> str:
    """Dollars with enough digits that a tiny run does not read as free."""
    return f"${amount:,.2f}" if amount >= 0.01 else f"${amount:.6f}"


def caller_account(endpoint: Endpoint) -> str:
    """The AWS account id behind the credentials (one STS call), or a one-line UsageError.

    STS is asked at ``endpoint.sts_url`` when the run has one (an STS endpoint override), else at AWS's own.
    """
    kwargs: dict[str, Any] = {"region_name": endpoint.region}
    if endpoint.sts_url:
        kwargs["endpoint_url"] = endpoint.sts_url
    try:
        return boto3.session.Session().client("sts", **kwargs).get_caller_identity()["Account"]
    except botocore.exceptions.NoCredentialsError:
        raise UsageError("no AWS credentials found (environment, profile or SSO)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise UsageError(f"cannot identify the AWS account (STS): {type(exc).__name__}") from None


def table_tags(run_id: str) -> list[dict[str, str]]:
    """The tags every table the harness creates carries."""
    return [{"Key": TAG_CREATED_BY[0], "Value": TAG_CREATED_BY[1]}, {"Key": "run-id", "Value": run_id}]


@dataclass
class Orphan:
    """A ddbstress-* table left behind: deletable only when ``tagged`` proves the harness created it."""

    name: str
    created: datetime | None
    tagged: bool
    tags_error: str | None = None  # why its tags could not be read (DynamoDB Local has none): never deleted


def find_orphans(client: Any, older_than: timedelta, now: datetime | None = None) -> list[Orphan]:
    """Tables named ddbstress-* older than ``older_than``; ``tagged`` says whether we may delete them.

    Raises botocore's ClientError when the tables cannot be listed or described."""
    now = now or datetime.now(UTC)
    found = []
    for name in _list_tables(client):
        if not name.startswith(TABLE_PREFIX):
            continue
        try:
            table = client.describe_table(TableName=name)["Table"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                continue  # deleted since it was listed
            raise
        created = table.get("CreationDateTime")
        if created and created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if created and now - created < older_than:
            continue
        found.append(_orphan(client, name, created, table["TableArn"]))
    return found


def _orphan(client: Any, name: str, created: datetime | None, arn: str) -> Orphan:
    """The table with its ownership read from its tags; unreadable tags prove nothing, so it is not ours."""
    try:
        tags = client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
    except botocore.exceptions.ClientError as exc:
        return Orphan(name, created, tagged=False, tags_error=describe_error(exc))
    tagged = any(t["Key"] == TAG_CREATED_BY[0] and t["Value"] == TAG_CREATED_BY[1] for t in tags)
    return Orphan(name, created, tagged)


def error_code(exc: botocore.exceptions.ClientError) -> str:
    """The AWS error code of a ClientError ('' when the answer had none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: Exception) -> str:
    """A ClientError as ``Code: message`` on one line; other botocore errors by their class name."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return type(exc).__name__
    message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
    return f"{error_code(exc) or 'error'}: {message}" if message else error_code(exc) or "error"


def _list_tables(client: Any) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = client.list_tables(**kwargs)
        names += page.get("TableNames", [])
        if "LastEvaluatedTableName" not in page:
            return names
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


def parse_age(text: str) -> timedelta:
    """``30m``, ``1h``, ``2d`` → a timedelta (UsageError otherwise)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise UsageError(f"--older-than {text!r}: use a number with s, m, h or d (e.g. 1h)")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: float(match.group(1))})
