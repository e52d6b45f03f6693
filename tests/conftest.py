"""Shared fixtures: a real DynamoDB Local and a real moto server on 127.0.0.1, one per test session."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import local_install
from harness.backends import servers as backends
from harness.backends.endpoint import Endpoint

REPO = Path(__file__).resolve().parent.parent
# The installed `stress` console script, as a user runs it (the [project.scripts] entry point of this
# interpreter's environment). Only if it is missing (package not installed) fall back to the module.
STRESS_SCRIPT = Path(sys.executable).parent / ("stress.exe" if sys.platform == "win32" else "stress")
STRESS_FALLBACK = not STRESS_SCRIPT.exists()
STRESS = [sys.executable, "-m", "harness"] if STRESS_FALLBACK else [str(STRESS_SCRIPT)]


def pytest_configure(config: pytest.Config) -> None:
    """Warn (once, in pytest's summary) when the suite cannot run the installed script."""
    if STRESS_FALLBACK:
        config.issue_config_time_warning(pytest.PytestWarning(
            f"{STRESS_SCRIPT} not found (is the package installed? `pip install -e .`): the tests run "
            f"`python -m harness` instead of the installed `stress` console script"),
            stacklevel=2)


@pytest.fixture(scope="session")
def local_jar_home() -> Path:
    """The DynamoDB Local jar directory (installed into the cache on first use)."""
    return local_install.find_jar_home() or local_install.install()


@pytest.fixture(scope="session")
def local_endpoint(local_jar_home: Path) -> Iterator[Endpoint]:
    """A DynamoDB Local started for the whole test session."""
    server = backends.LocalServer(local_jar_home)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ddb_endpoint(local_endpoint: Endpoint) -> Endpoint:
    """The pytest plugin's fixture (harness.pytest_plugin), overridden: its tables live on the session's one
    DynamoDB Local instead of a second JVM."""
    return local_endpoint


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[Endpoint]:
    """A moto server (own process) for the whole test session."""
    server = backends.MotoServer()
    try:
        yield server.start()
    finally:
        server.stop()


def sigint_as_at_a_terminal() -> None:
    """``preexec_fn`` of a `stress` the test will Ctrl-C: SIGINT's default action, as in a terminal, whatever
    this test process inherited (a shell's background job and pytest-xdist's workers ignore SIGINT, and an
    ignored signal stays ignored across exec: the run would never see the test's Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_stress(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `stress` console script as a subprocess (exactly as a user would) and capture its
    output (``python -m harness`` only if the script is missing, with a warning). Never on a terminal's
    stdin: a prompt (the AWS plan's "Proceed?") must fail the test, not wait for a keypress."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*STRESS, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd or REPO, stdin=subprocess.DEVNULL)


def stdout_json(proc: subprocess.CompletedProcess[str]) -> dict:
    """What a `--json` command printed; fails naming the end of stderr when it printed nothing."""
    assert proc.stdout.strip(), f"no JSON on stdout; stderr: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


@pytest.fixture
def stress():
    """The CLI runner, as a fixture."""
    return run_stress


@pytest.fixture
def java_available() -> None:
    """Skip nothing: the suite requires Java, as the harness's default backend does."""
    assert shutil.which("java"), "Java 17 is required by the default backend and the tests"
