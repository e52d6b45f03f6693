"""`stress conform`: every probe against a deliberately wrong fake (a loopback proxy in front of DynamoDB Local
that rewrites its answers) must say `differs`; the probe DynamoDB Local naturally fails gets a fake that makes
it conform, and its decision function is tested on recorded histories; one real run of the command."""

from __future__ import annotations

import dataclasses
import json
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import pytest

from harness.backends.endpoint import BACKEND_KINDS, Endpoint
from harness.cli import app as cli
from harness.conform import matrix
from harness.conform.client import ConformClient
from harness.conform.probe import CONFORMS, DIFFERS, INCONCLUSIVE, Cell, Probe
from harness.conform.probes import PROBES
from harness.conform.probes.all_old import AllOld
from harness.conform.probes.atomic_counter import AtomicCounter
from harness.conform.probes.cancellation_reasons import CancellationReasons
from harness.conform.probes.capacity import Capacity
from harness.conform.probes.client_request_token import ClientRequestToken
from harness.conform.probes.item_size import ItemSize
from harness.conform.probes.reserved_words import ReservedWords
from harness.conform.probes.transaction_conflict import Attempt, Timed, TransactionConflict, decide
from harness.conform.probes.transaction_limits import TransactionLimits
from harness.errors import UsageError
from harness.history.rundir import new_run_id
from harness.nemesis.proxy import FaultProxy
from tests.conftest import run_stress

Body = dict[str, Any]
# (operation, request body, status, response body) → a new (status, body), or None to pass the answer on.
Rewrite = Callable[[str, Body, int, Body], "tuple[int, Body] | None"]
# (operation, request body) → an answer given without asking the server, or None to forward the request.
Answer = Callable[[str, Body], Awaitable["tuple[int, Body] | None"]]


# --------------------------------------------------------------------------- the deliberately wrong fake


def _split(data: bytes) -> tuple[int, bytes]:
    """Status and (de-chunked) body of one raw HTTP/1.1 response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks, rest = [], body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if not size:
                break
            chunks.append(rest[:size])
            rest = rest[size + 2:]
        body = b"".join(chunks)
    return status, body


def _response(status: int, body: Body) -> bytes:
    """A DynamoDB-style JSON answer, with the CRC32 header botocore checks."""
    raw = json.dumps(body).encode()
    return (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\nx-amz-crc32: {zlib.crc32(raw)}\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def error(code: str, message: str = "rewritten by the test's fake") -> tuple[int, Body]:
    """A 400 answer with DynamoDB's error code ``code``."""
    return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}


class Fake(FaultProxy):
    """The fault proxy without faults, rewriting DynamoDB Local's answers (or answering in its place)."""

    def __init__(self, upstream_url: str, rewrite: Rewrite | None = None, answer: Answer | None = None) -> None:
        super().__init__(upstream_url)
        self.rewrite, self.answer = rewrite, answer
        self.rewritten = 0

    async def _forward(self, req: Any) -> Any:
        target = (req.head.headers.get(b"x-amz-target") or b"").decode().rpartition(".")[2]
        request = json.loads(req.body or b"{}")
        if self.answer is not None and (given := await self.answer(target, request)) is not None:
            self.rewritten += 1
            return _Reply(_response(*given), given[0], True)
        response = await super()._forward(req)
        if response is None or self.rewrite is None:
            return response
        status, body = _split(response.data)
        new = self.rewrite(target, request, status, json.loads(body or b"{}"))
        if new is None:
            return response
        self.rewritten += 1
        return dataclasses.replace(response, data=_response(*new), status=new[0])


@dataclasses.dataclass
class _Reply:
    """What FaultProxy needs of an answer it writes back (the fields of its own response record)."""

    data: bytes
    status: int
    keep_alive: bool


async def probe_through(endpoint: Endpoint, probe: type[Probe], rewrite: Rewrite | None = None,
                        answer: Answer | None = None) -> tuple[Cell, int]:
    """Run one probe through a fake in front of ``endpoint``; returns its cell and how many answers the fake
    changed, after checking the probe left no table behind."""
    run_id = new_run_id()
    async with Fake(endpoint.url, rewrite, answer) as fake, ConformClient(endpoint.via(fake.url), run_id) as client:
        cell = await matrix.run_probe(probe(), client)
        tables = (await client.ddb.list_tables(ExclusiveStartTableName=f"ddbstress-conform-{run_id}"))["TableNames"]
    assert not [t for t in tables if t.startswith(f"ddbstress-conform-{run_id}")], tables
    return cell, fake.rewritten


def assert_differs(cell: Cell, *fragments: str) -> None:
    assert cell.status == DIFFERS, (cell.status, cell.detail)
    for fragment in fragments:
        assert fragment in cell.detail, cell.detail


# --------------------------------------------------------------------------- one fake per probe


async def test_transaction_conflict_conforms_when_the_fake_refuses_writes_during_a_transaction(local_endpoint):
    """DynamoDB Local never throws TransactionConflictException; a fake that refuses every single-item write
    arriving while a TransactWriteItems is in flight (as AWS documents) must make the probe conform."""
    in_flight = 0

    async def answer(target: str, request: Body) -> tuple[int, Body] | None:
        nonlocal in_flight
        if target in ("PutItem", "UpdateItem", "DeleteItem") and in_flight:
            return error("TransactionConflictException", "Transaction is ongoing for the item")
        return None

    class Holding(Fake):
        async def _forward(self, req: Any) -> Any:
            nonlocal in_flight
            holds = (req.head.headers.get(b"x-amz-target") or b"").endswith(b".TransactWriteItems")
            in_flight += holds
            try:
                return await super()._forward(req)
            finally:
                in_flight -= holds

    run_id = new_run_id()
    async with Holding(local_endpoint.url, answer=answer) as fake, \
            ConformClient(local_endpoint.via(fake.url), run_id) as client:
        cell = await matrix.run_probe(TransactionConflict(), client)
    assert cell.status == CONFORMS, cell.detail
    assert "TransactionConflictException" in cell.detail and fake.rewritten > 0


def _timed(op: str, start_ms: float, end_ms: float, outcome: str = "ok", reasons: list | None = None) -> Timed:
    return Timed(op, int(start_ms * 1e6), int(end_ms * 1e6), outcome, reasons or [])


def test_transaction_conflict_decides_from_the_recorded_times():
    tx = _timed("transaction", 0, 10)
    overlapping = Attempt(tx, [_timed("put", 1, 12), _timed("update", 2, 5), _timed("delete", 11, 13)])
    cell = decide([overlapping] * 3)
    assert cell.status == DIFFERS and cell.detail.startswith("accepted 6 overlapping writes, never TransactionConflict")
    assert "3 of 3 attempts" in cell.detail and "3 of the writes were sent after the transaction" in cell.detail
    # The same writes, all answered before the transaction left or sent after it was answered: nothing shown.
    apart = Attempt(tx, [_timed("put", -5, -1), _timed("update", 10.5, 12)])
    assert decide([apart] * 50).status == INCONCLUSIVE
    assert "no write overlapped" in decide([apart]).detail
    # A write refused as AWS documents, or a transaction cancelled for the conflict: conforms.
    refused = Attempt(tx, [_timed("put", 1, 3, "TransactionConflictException")])
    assert decide([overlapping, refused]).status == CONFORMS
    cancelled = Attempt(_timed("transaction", 0, 10, "TransactionCanceledException", ["TransactionConflict"]),
                        [_timed("put", 1, 3)])
    assert "reason TransactionConflict" in decide([cancelled]).detail
    # Overlapping writes accepted beside a transaction that failed for another reason prove nothing.
    failed = Attempt(_timed("transaction", 0, 10, "InternalServerError"), [_timed("put", 1, 3)])
    assert decide([failed]).status == INCONCLUSIVE and "no transaction succeeded" in decide([failed]).detail
    assert decide([]).status == INCONCLUSIVE


def _cancelled(target: str, status: int, body: Body) -> bool:
    return target == "TransactWriteItems" and status == 400 and "CancellationReasons" in body


@pytest.mark.parametrize("bug, rewrite, fragment", [
    ("Item stripped from the reasons",
     lambda reasons: [{k: v for k, v in r.items() if k != "Item"} for r in reasons], "ALL_OLD Item: got no Item"),
    ("only the failing action's reason", lambda reasons: [r for r in reasons if r.get("Code") != "None"],
     "reason codes [None, ConditionalCheckFailed, None]: got ['ConditionalCheckFailed']"),
])
async def test_cancellation_reasons_differs_on_a_fake(local_endpoint, bug, rewrite, fragment):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        if _cancelled(target, status, body):
            return status, {**body, "CancellationReasons": rewrite(body["CancellationReasons"])}
        return None

    cell, rewritten = await probe_through(local_endpoint, CancellationReasons, fake)
    assert rewritten == 1
    assert_differs(cell, fragment)


async def test_all_old_differs_when_update_item_returns_no_item(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        if target == "UpdateItem" and "Item" in body:
            return status, {k: v for k, v in body.items() if k != "Item"}
        return None

    cell, _ = await probe_through(local_endpoint, AllOld, fake)
    assert_differs(cell, "UpdateItem returns the ALL_OLD Item: got no Item")
    assert "PutItem" not in cell.detail and "DeleteItem" not in cell.detail


async def test_client_request_token_differs_when_a_mismatch_is_accepted(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        return (200, {}) if body.get("__type", "").endswith("#IdempotentParameterMismatchException") else None

    cell, rewritten = await probe_through(local_endpoint, ClientRequestToken, fake)
    assert rewritten == 1
    assert_differs(cell, "same token, other parameters: IdempotentParameterMismatchException: got ok (HTTP 200)")


async def test_client_request_token_differs_on_a_spurious_mismatch_for_a_condition_check_replay(local_endpoint):
    """What is reported of some DynamoDB Local versions: an identical replay with a ConditionCheck refused."""
    seen: set[str] = set()

    async def answer(target: str, request: Body) -> tuple[int, Body] | None:
        token = request.get("ClientRequestToken")
        if target == "TransactWriteItems" and any("ConditionCheck" in a for a in request["TransactItems"]):
            if token in seen:
                return error("IdempotentParameterMismatchException")
            seen.add(token)
        return None

    cell, _ = await probe_through(local_endpoint, ClientRequestToken, answer=answer)
    assert_differs(cell, "with ConditionCheck, replayed succeeds: got IdempotentParameterMismatchException")


async def test_transaction_limits_differs_when_a_duplicate_item_transaction_gets_200(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        if target == "TransactWriteItems" and len(request["TransactItems"]) == 2 and status == 400:
            return 200, {}
        return None

    cell, rewritten = await probe_through(local_endpoint, TransactionLimits, fake)
    assert rewritten == 1
    assert_differs(cell, "two actions on one item → ValidationException, nothing written: got ok (HTTP 200)")
    assert "101 actions" not in cell.detail


async def test_capacity_differs_on_the_wrong_consumed_capacity(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        if target == "TransactWriteItems" and "ConsumedCapacity" in body:
            return status, {**body, "ConsumedCapacity": [{**c, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}
                                                         for c in body["ConsumedCapacity"]]}
        return None

    cell, _ = await probe_through(local_endpoint, Capacity, fake)
    assert_differs(cell, "TransactWriteItems of one item consumed 2.0 WCU: got 1.0 WCU")


async def test_atomic_counter_differs_when_increments_are_lost(local_endpoint):
    updates = 0

    async def answer(target: str, request: Body) -> tuple[int, Body] | None:
        nonlocal updates
        if target == "UpdateItem":
            updates += 1
            if updates % 10 == 0:  # acknowledged, never applied
                return 200, {}
        return None

    cell, rewritten = await probe_through(local_endpoint, AtomicCounter, answer=answer)
    assert rewritten == 20
    assert_differs(cell, "final value 180 after 200 acknowledged increments: 20 lost")


async def test_reserved_words_differs_when_unescaped_role_is_accepted(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        return (200, {}) if "SET Role" in request.get("UpdateExpression", "") and status == 400 else None

    cell, rewritten = await probe_through(local_endpoint, ReservedWords, fake)
    assert rewritten == 1
    assert_differs(cell, "SET Role = :r → ValidationException: got ok (HTTP 200)")


async def test_item_size_differs_when_an_oversized_item_is_accepted(local_endpoint):
    def fake(target: str, request: Body, status: int, body: Body) -> tuple[int, Body] | None:
        return (200, {}) if target == "PutItem" and status == 400 else None

    cell, rewritten = await probe_through(local_endpoint, ItemSize, fake)
    assert rewritten == 1
    assert_differs(cell, "a 420,000-byte item → ValidationException: got ok (HTTP 200)")


def test_every_probe_has_a_fake_here():
    tested = {AllOld, AtomicCounter, CancellationReasons, Capacity, ClientRequestToken, ItemSize, ReservedWords,
              TransactionConflict, TransactionLimits}
    assert set(PROBES) == tested
    for probe in PROBES:
        assert probe.doc.url.startswith("https://docs.aws.amazon.com/") and probe.documented and probe.title


# --------------------------------------------------------------------------- options


def test_backends_are_parsed_like_compare_does():
    choices = matrix.parse_backends("local, moto,endpoint=http://u:p@127.0.0.1:8000")
    assert [(c.label, c.kind, c.endpoint_url) for c in choices] == [
        ("local", "local", None), ("moto", "moto", None),
        ("endpoint http://***@127.0.0.1:8000", "endpoint", "http://u:p@127.0.0.1:8000")]
    assert [c.kind for c in matrix.parse_backends("local")] == ["local"]  # one is enough here
    for bad, message in (("local,nope", "unknown backend 'nope'"), ("", "at least one"),
                         ("local,local", "local given twice"), ("endpoint=ftp://x", r"needs an http\(s\) URL")):
        with pytest.raises(UsageError, match=message):
            matrix.parse_backends(bad)
    if "dynalite" in BACKEND_KINDS:
        assert [c.kind for c in matrix.parse_backends("local,dynalite")] == ["local", "dynalite"]
    else:
        with pytest.raises(UsageError, match="dynalite is not available"):
            matrix.parse_backends("local,dynalite")


def test_aws_needs_yes_and_a_region():
    aws = matrix.parse_backends("local,aws")
    with pytest.raises(UsageError, match="without --yes"):
        matrix.check_options(aws, yes=False, region="eu-west-1")
    with pytest.raises(UsageError, match="needs --region"):
        matrix.check_options(aws, yes=True, region=None)
    matrix.check_options(aws, yes=True, region="eu-west-1")
    with pytest.raises(UsageError, match="--region applies to none"):
        matrix.check_options(matrix.parse_backends("local,moto"), yes=False, region="eu-west-1")
    with pytest.raises(UsageError, match="unknown probe 'nope'"):
        matrix.select_probes(["nope"])


@pytest.mark.parametrize("args", [["--backends", "local,nope"], ["--backends", "aws", "--region", "eu-west-1"]])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, args):
    monkeypatch.setattr(sys, "argv", ["stress", "conform", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stress: error: --backends") or err.startswith("stress: error: refusing"), err
    assert len(err.splitlines()) == 1


def _matrix(*statuses: str) -> matrix.Matrix:
    probes = list(PROBES[:len(statuses)])
    cells = {p.name: Cell(status, f"<b>{status}</b> & more") for p, status in zip(probes, statuses, strict=True)}
    column = matrix.Column("local", {"kind": "local", "endpoint": "http://127.0.0.1:1", "version": "v"}, cells)
    return matrix.Matrix("20261201-000000-abcd", "2026-12-01T00:00:00+00:00", probes,
                         "stress conform --backends local", [column])


def test_status_and_exit_code_follow_stress_run():
    assert (_matrix(CONFORMS, CONFORMS).status, _matrix(CONFORMS, CONFORMS).exit_code) == (CONFORMS, 0)
    assert (_matrix(CONFORMS, INCONCLUSIVE).status, _matrix(CONFORMS, INCONCLUSIVE).exit_code) == (INCONCLUSIVE, 3)
    assert (_matrix(INCONCLUSIVE, DIFFERS).status, _matrix(INCONCLUSIVE, DIFFERS).exit_code) == (DIFFERS, 1)


def test_the_page_escapes_what_backends_said(tmp_path):
    out = matrix.write_matrix(_matrix(DIFFERS, INCONCLUSIVE), tmp_path)
    html = (out / "conform.html").read_text()
    assert "<b>differs</b>" not in html and "&lt;b&gt;differs&lt;/b&gt; &amp; more" in html
    assert ">DIFFERS</div>" in html and PROBES[0].doc.url in html and "Documented, not probed" in html
    assert json.loads((out / "conform.json").read_text())["status"] == DIFFERS


# --------------------------------------------------------------------------- the command, as a user runs it


# `stress conform --backends local,moto,dynalite`, as the README prints it, runs in tests/test_readme.py, which
# checks its conform.json and conform.html (every probe x backend, DynamoDB Local's column, the page's sections).
# Here: the --json output, through the console script, on the quickest backend to start (a few seconds, where
# local and moto each take ~10 s here); it replaces an in-process run of the matrix on dynalite.
@pytest.mark.skipif("dynalite" not in BACKEND_KINDS, reason="this build does not manage dynalite")
def test_conform_json_through_the_console_script(tmp_path):
    proc = run_stress("conform", "--backends", "dynalite", "--json", cwd=tmp_path, timeout=180)
    assert proc.returncode in (0, 1, 3), proc.stderr
    result = json.loads(proc.stdout)
    names = [p.name for p in PROBES]
    assert list(result["matrix"]) == names
    for name in names:
        assert set(result["matrix"][name]) == {"dynalite"}
        for cell in result["matrix"][name].values():
            assert cell["status"] in (CONFORMS, DIFFERS, INCONCLUSIVE) and cell["detail"]
    assert proc.returncode == {CONFORMS: 0, DIFFERS: 1, INCONCLUSIVE: 3}[result["status"]]
    assert result["dir"] == f"reports/conform-{result['id']}"  # relative to the cwd, as `stress run` writes
    out = tmp_path / result["dir"]
    html = (out / "conform.html").read_text()
    assert all(f'id="probe-{name}"' in html for name in names)
    assert json.loads((out / "conform.json").read_text())["matrix"] == result["matrix"]


def test_the_aws_path_against_moto_posing_as_aws(moto_endpoint, monkeypatch):
    """`aws` in --backends goes through the credential chain and the SDK's endpoint override (never real AWS
    here), and its tables are gone afterwards."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint.url)
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIADDBSTRESSTEST"), ("AWS_SECRET_ACCESS_KEY", "fake"),
                        ("AWS_SESSION_TOKEN", "fake")):
        monkeypatch.setenv(name, value)
    choices = matrix.parse_backends("aws")
    matrix.check_options(choices, yes=True, region="us-east-1")
    found = matrix.run_matrix(choices, [ReservedWords, ItemSize], region="us-east-1")
    column = found.columns[0]
    assert column.backend["kind"] == "aws" and column.backend["endpoint"] == moto_endpoint.url
    assert {name: cell.status for name, cell in column.cells.items()} == {
        "reserved-words": CONFORMS, "item-size-limit": CONFORMS}
    assert "--region us-east-1" in found.command and "--yes" in found.command
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="us-east-1")
    assert not [t for t in client.list_tables()["TableNames"] if found.run_id in t]
