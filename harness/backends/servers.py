"""Backends: how the database under test is started or reached.

``open_backend`` is a context manager yielding an :class:`Endpoint`. Managed servers (DynamoDB
Local, moto, dynalite) are child processes that the harness starts on a free 127.0.0.1 port and
stops — those and only those — when the block exits, whether by success, failure or Ctrl-C. On Linux
the children also get ``PR_SET_PDEATHSIG`` so they die with the harness even after SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from harness.backends import dynalite_install, local_cds, local_install
from harness.backends.endpoint import (
    BACKEND_KINDS,
    FAKE_CREDENTIALS,
    LOCAL_REGION,
    UNKNOWN_ENDPOINT_VERSION,
    Endpoint,
    configured_endpoint_url,
    redact_url,
)
from harness.backends.process import ManagedProcess, free_port, port_in_use
from harness.errors import UsageError

# The managed JVM's options. C1 only and the serial collector: at full speed ~2 s after start (a default
# tiered JVM needed ~45 s of load to get there, so a 20 s run measured a JVM still warming up) and ready
# ~1 s sooner, for ~25 % less peak throughput on long runs (measured on 2 cores; see README).
# DDB_STRESS_LOCAL_JAVA_OPTS replaces them (and the heap cap below).
LOCAL_JAVA_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def local_heap_mb(workers: int = 0) -> int:
    """The heap cap: without one it grew to 3.3 GB under load. 1 GB serves a few thousand workers;
    10,000 requests in flight at once filled it (back-to-back full GCs, connections timing out) and
    ran cleanly with 2 GB, so it grows by 1 MB per 8 workers."""
    return 1024 + workers // 8


STARTUP_TIMEOUT_S = 90.0



class NotDynamoDB(botocore.exceptions.BotoCoreError):
    """The endpoint answered, but not as DynamoDB does."""

    fmt = "{message}"

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


def probe(endpoint: Endpoint, timeout_s: float = 2.0) -> None:
    """One ListTables call; raises botocore errors when the endpoint does not answer as DynamoDB."""
    cfg = botocore.config.Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                 retries={"total_max_attempts": 1})
    client = boto3.session.Session().client("dynamodb", config=cfg, **endpoint.client_kwargs())
    try:
        answer = client.list_tables(Limit=1)
    finally:
        client.close()
    if "TableNames" not in answer:  # botocore reads any 200 (an HTML page, say) as an empty answer
        content_type = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("content-type", "?")
        raise NotDynamoDB(f"ListTables answered without TableNames (content-type {content_type})")


def wait_until_ready(endpoint: Endpoint, process: ManagedProcess, what: str) -> None:
    """Poll until the managed server answers ListTables, it dies, or the start-up timeout passes.

    Until its port accepts connections only a TCP connect is tried: each ListTables probe builds a boto3
    client (~0.1 s of CPU), and ~9 of them during a JVM's ~2 s start took CPU from the JVM on 2 cores."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    port = urlsplit(endpoint.url or "").port or 80  # a managed server listens on 127.0.0.1
    while True:
        if not process.alive():
            raise UsageError(f"{what} exited during start-up: {process.log_tail() or 'no output'}")
        if port_in_use(port):
            try:
                probe(endpoint, timeout_s=1.0)
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                pass
        if time.monotonic() > deadline:
            raise UsageError(f"{what} did not answer within {STARTUP_TIMEOUT_S:.0f} s") from None
        time.sleep(0.05)


def check_reachable(endpoint: Endpoint) -> None:
    """Raise a one-line UsageError when an endpoint cannot be reached or is not DynamoDB."""
    shown = redact_url(endpoint.url or f"AWS {endpoint.region}")
    try:
        probe(endpoint, timeout_s=3.0)
    except botocore.exceptions.EndpointConnectionError:
        raise UsageError(f"cannot reach {shown}: connection refused or no route") from None
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
        raise UsageError(f"cannot reach {shown}: timed out") from None
    except botocore.exceptions.NoCredentialsError:
        raise UsageError("no AWS credentials found (environment, profile or SSO)") from None
    except NotDynamoDB as exc:
        raise UsageError(f"{shown} does not look like DynamoDB: {exc}") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code and not code.isdigit():
            if code in ("UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
                        "ExpiredTokenException"):
                raise UsageError(f"{shown} rejected the credentials: {code}") from None
            return  # some DynamoDB error: it speaks the protocol
        raise UsageError(f"{shown} does not look like DynamoDB (HTTP {status}, no DynamoDB error code)") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"{shown} does not look like DynamoDB: {type(exc).__name__}") from None


def local_java_opts(workers: int = 0) -> list[str]:
    """JVM options of a managed DynamoDB Local: ``DDB_STRESS_LOCAL_JAVA_OPTS`` if set, else ours with a heap
    sized for ``workers``."""
    custom = os.environ.get("DDB_STRESS_LOCAL_JAVA_OPTS")
    if custom is not None:
        return shlex.split(custom)
    return [f"-Xmx{local_heap_mb(workers)}m", *LOCAL_JAVA_OPTS]


class LocalServer:
    """Amazon's DynamoDB Local jar as a managed child process."""

    def __init__(self, jar_home: Path, port: int | None = None, *, db_path: Path | None = None, workers: int = 0,
                 tied_to_parent: bool = True) -> None:
        self.jar_home = jar_home
        self.port = port or free_port()
        # Absolute: java runs in ``workdir``, so a -dbPath relative to the user's cwd would point elsewhere.
        self.db_path = db_path.resolve() if db_path else None
        self.java_opts = local_java_opts(workers)
        self.tied_to_parent = tied_to_parent
        self.workdir = Path(tempfile.mkdtemp(prefix=local_install.LOCAL_WORKDIR_PREFIX))
        self.process: ManagedProcess | None = None
        self.launch = local_cds.plain(jar_home / local_install.JAR_NAME)
        self.warmed_up_by = 0  # workers of the biggest warm-up it has had (harness.engine.run)
        self.endpoint = Endpoint("local", f"http://127.0.0.1:{self.port}", LOCAL_REGION, "unknown",
                                 dict(FAKE_CREDENTIALS), server=self)

    def argv(self, java: str, launch: local_cds.Launch | None = None) -> list[str]:
        """The java command line (``launch``: how the jar is started, by default plain ``-jar``)."""
        storage = ["-dbPath", str(self.db_path)] if self.db_path else ["-inMemory"]
        launch = launch or local_cds.plain(self.jar_home / local_install.JAR_NAME)
        # Its temporary files in the working directory: the jar extracts its 0.9 MB SQLite library into
        # java.io.tmpdir at every start and deletes it only on an orderly exit, so each SIGKILLed server left
        # one in /tmp (36 after one run of the suite). No perf-data file in /tmp either, for the same reason.
        return [java, *self.java_opts, f"-Djava.library.path={self.jar_home / 'DynamoDBLocal_lib'}",
                f"-Djava.io.tmpdir={self.workdir}", "-XX:-UsePerfData", *launch.args, *storage, "-disableTelemetry",
                "-port", str(self.port)]

    def start(self) -> Endpoint:
        """Start the JVM, wait until ListTables answers, and read the server's version."""
        java = local_install.require_java()
        if port_in_use(self.port):
            raise UsageError(f"port {self.port} on 127.0.0.1 is already in use")
        if self.db_path:
            self.db_path.mkdir(parents=True, exist_ok=True)
        # A server left running (`stress local start`) is stopped by another process: nobody would keep the
        # archive it records at exit, so it only maps one.
        self.launch = local_cds.launch(self.jar_home / local_install.JAR_NAME, java, local_install.cds_dir(),
                                       java_opts=self.java_opts, record=self.tied_to_parent)
        try:
            self._spawn(java)
        except UsageError:
            if self.launch.archive is None or self.process.alive():
                raise
            # Died with an archive mapped (a truncated one killed the JVM with SIGBUS): once more without it;
            # only if that start comes up was the archive to blame (a bad JVM option fails both).
            suspect, self.launch = self.launch, local_cds.plain(self.jar_home / local_install.JAR_NAME)
            self._spawn(java)
            suspect.discard()
        log_text = self.process.log_path.read_text(errors="replace")
        self.launch.rejected(log_text)
        match = re.search(r"Version:\s*(\S+)", log_text)
        self.endpoint.version = f"DynamoDB Local {match.group(1)}" if match else "DynamoDB Local"
        self.endpoint.details = {"pid": self.process.pid, "storage": str(self.db_path) if self.db_path else "memory",
                                 "java_opts": " ".join(self.java_opts), "class_data_sharing": self.launch.state}
        return self.endpoint

    def _spawn(self, java: str) -> None:
        """Start the JVM as ``self.launch`` says and wait until it answers."""
        self.process = ManagedProcess(self.argv(java, self.launch), self.workdir,
                                      self.workdir / "dynamodb-local.log", tied_to_parent=self.tied_to_parent)
        wait_until_ready(self.endpoint, self.process, "DynamoDB Local")

    def restart(self) -> None:
        """SIGKILL and start again on the same port and storage (crash fault)."""
        if self.process:
            self.process.kill()
            self.launch.finish(clean_exit=False)
        self.start()

    def stop(self) -> None:
        """Stop the JVM (and only it), then delete its working directory (its log included).

        In memory with no archive to record there is nothing to shut down in order: SIGKILL (SIGTERM's
        orderly shutdown took 0.35 s of every run). Recording an archive at exit took ~3 s."""
        if self.process:
            if self.db_path is None and self.launch.record_to is None:
                self.process.kill()
            else:
                self.process.stop(grace_s=30.0 if self.launch.record_to else 5.0)
            self.launch.finish(clean_exit=self.process.proc.returncode != -signal.SIGKILL)
        local_install.remove_workdir(self.workdir)


def _moto_version() -> str:
    import moto

    return f"moto {moto.__version__}"


class MotoServer:
    """moto's server (`python -m moto.server`) as a child process: its own interpreter and GIL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="ddbstress-moto-"))
        self.process: ManagedProcess | None = None
        self.endpoint = Endpoint("moto", f"http://127.0.0.1:{self.port}", LOCAL_REGION, _moto_version(),
                                 dict(FAKE_CREDENTIALS))

    def start(self) -> Endpoint:
        """Start the server and wait until it answers."""
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = ManagedProcess(argv, self.workdir, self.workdir / "moto.log")
        wait_until_ready(self.endpoint, self.process, "moto server")
        self.endpoint.details = {"pid": self.process.pid}
        return self.endpoint

    def stop(self) -> None:
        """Stop the server, then delete its working directory (its log included)."""
        if self.process:
            self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# Tables go ACTIVE (and away) at once, as on DynamoDB Local: dynalite's default 500 ms in CREATING would cost
# every workload a second of the table waiter's polling.
DYNALITE_OPTS = ("--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")


class DynaliteServer:
    """dynalite (Node, in memory) as a managed child process on a free loopback port."""

    def __init__(self, package: Path, node: str, node_version: str) -> None:
        self.package = package
        self.node, self.node_version = node, node_version
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="ddbstress-dynalite-"))
        self.process: ManagedProcess | None = None
        version = dynalite_install.installed_version(package.parent.parent) or "?"
        self.endpoint = Endpoint("dynalite", f"http://127.0.0.1:{self.port}", LOCAL_REGION, f"dynalite {version}",
                                 dict(FAKE_CREDENTIALS))

    def argv(self) -> list[str]:
        """The node command line."""
        return [self.node, str(self.package / "cli.js"), "--host", "127.0.0.1", "--port", str(self.port),
                *DYNALITE_OPTS]

    def start(self) -> Endpoint:
        """Start the server and wait until ListTables answers."""
        self.process = ManagedProcess(self.argv(), self.workdir, self.workdir / "dynalite.log")
        wait_until_ready(self.endpoint, self.process, "dynalite")
        self.endpoint.details = {"pid": self.process.pid, "storage": "memory", "node": self.node_version,
                                 "options": " ".join(DYNALITE_OPTS)}
        return self.endpoint

    def stop(self) -> None:
        """Stop the server, then delete its working directory (its log included)."""
        if self.process:
            self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


MANAGED_KINDS = ("local", "moto", "dynalite")


@contextlib.contextmanager
def open_backend(kind: str, *, endpoint_url: str | None = None, region: str | None = None,
                 local_jar: str | None = None, db_path: Path | None = None, workers: int = 0,
                 kept: KeptServers | None = None) -> Iterator[Endpoint]:
    """Start or reach the backend (a managed DynamoDB Local's heap sized for ``workers``); managed servers are
    stopped when the block exits — unless ``kept`` keeps them for the next run of the same command (not one
    on disk: its storage belongs to the run)."""
    if endpoint_url and kind == "local":
        kind = "endpoint"
    if kind not in BACKEND_KINDS:
        raise UsageError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")
    if kind not in MANAGED_KINDS:
        yield _remote_endpoint(kind, endpoint_url, region)
        return
    if kept is not None and db_path is None:
        yield kept.endpoint(kind, local_jar, workers)
        return
    server = managed_server(kind, local_jar=local_jar, db_path=db_path, workers=workers)
    try:
        yield server.start()
    finally:
        server.stop()


def managed_server(kind: str, *, local_jar: str | None = None, db_path: Path | None = None,
                   workers: int = 0) -> LocalServer | MotoServer | DynaliteServer:
    """A managed server of ``kind``, not started yet."""
    if kind == "local":
        jar_home = local_install.find_jar_home(local_jar) or local_install.install()
        local_install.require_java()
        return LocalServer(jar_home, db_path=db_path, workers=workers)
    if kind == "moto":
        return MotoServer()
    node, node_version = dynalite_install.require_node()
    return DynaliteServer(dynalite_install.find() or dynalite_install.install(), node, node_version)


class KeptServers:
    """Managed servers shared by the runs of one command — `stress run --repeat N`, the levels of `stress sweep`:
    each started on first use (DynamoDB Local with a heap for ``workers``, the most any of the runs has) and
    stopped when the block exits, on failure and Ctrl-C too. Every run still has its own tables; a server
    that died (or was crashed by a fault) is started again. A second start of DynamoDB Local and its warm-up
    cost every run ~2–3 s (2 cores)."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers
        self.servers: dict[tuple[str, str | None], LocalServer | MotoServer | DynaliteServer] = {}

    def endpoint(self, kind: str, local_jar: str | None, workers: int) -> Endpoint:
        """The running server of ``kind`` (started now if there is none, or it died)."""
        key = (kind, local_jar)
        server = self.servers.get(key)
        if server is not None and server.process is not None and server.process.alive():
            return server.endpoint
        if server is not None:
            server.stop()
        server = self.servers[key] = managed_server(kind, local_jar=local_jar, workers=max(workers, self.workers))
        return server.start()

    def recording(self) -> bool:
        """Whether a kept DynamoDB Local will write its class archive as it stops (~3 s, once per machine)."""
        return any(isinstance(server, LocalServer) and server.launch.record_to is not None
                   and server.process is not None and server.process.alive() for server in self.servers.values())

    def __enter__(self) -> KeptServers:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


def _remote_endpoint(kind: str, endpoint_url: str | None, region: str | None) -> Endpoint:
    """An endpoint the harness does not manage: any URL, or real AWS via the credential chain."""
    if kind == "endpoint":
        if not endpoint_url:
            raise UsageError("--backend endpoint needs --endpoint-url URL")
        if urlsplit(endpoint_url).scheme not in ("http", "https"):
            raise UsageError(f"--endpoint-url {redact_url(endpoint_url)!r} is not an http(s) URL")
        endpoint = Endpoint("endpoint", endpoint_url, region or LOCAL_REGION, UNKNOWN_ENDPOINT_VERSION,
                            dict(FAKE_CREDENTIALS))
        identify_local_start(endpoint)
    else:
        return _aws_endpoint(endpoint_url, region)
    check_reachable(endpoint)
    return endpoint


def _aws_endpoint(endpoint_url: str | None, region: str | None) -> Endpoint:
    """Real AWS through the credential chain; the SDKs' endpoint override variables are honoured, and put
    in ``url`` so the prepared client, the fault proxy and run.json see where requests really go."""
    session = boto3.session.Session()
    region = region or session.region_name
    if not region:
        raise UsageError("--backend aws needs --region (or a region in the AWS profile)")
    # STS gets its own override first; an explicit --endpoint-url stays its fallback, as before, since the
    # one server posing as AWS in tests answers both. AWS_ENDPOINT_URL_DYNAMODB never redirects STS.
    sts_url = configured_endpoint_url("sts", general=False) or endpoint_url or configured_endpoint_url("sts")
    # Not probed here: nothing but STS may reach AWS before the user has accepted the plan.
    return Endpoint("aws", endpoint_url or configured_endpoint_url("dynamodb"), region, "AWS DynamoDB",
                    sts_url=sts_url)


def identify_local_start(endpoint: Endpoint) -> None:
    """Name the server behind a loopback URL when `stress local start` left a DynamoDB Local on its port
    (its state file says which version, and the pid still runs the jar)."""
    parts = urlsplit(endpoint.url or "")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port: the reachability check explains it
        return
    state = local_install.running_local(port)
    if state and state.get("version"):
        endpoint.version = str(state["version"])
        endpoint.details = {"started_by": "stress local start", "pid": state["pid"]}


