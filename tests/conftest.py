"""Shared fixtures: a real DynamoDB Local and a real moto server on 127.0.0.1, one per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import backends, local_install

REPO = Path(__file__).resolve().parent.parent
STRESS = [sys.executable, "-m", "harness"]


@pytest.fixture(scope="session")
def local_jar_home() -> Path:
    """The DynamoDB Local jar directory (installed into the cache on first use)."""
    return local_install.find_jar_home() or local_install.install()


@pytest.fixture(scope="session")
def local_endpoint(local_jar_home: Path) -> Iterator[backends.Endpoint]:
    """A DynamoDB Local started for the whole test session."""
    server = backends.LocalServer(local_jar_home)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[backends.Endpoint]:
    """A moto server (own process) for the whole test session."""
    server = backends.MotoServer()
    try:
        yield server.start()
    finally:
        server.stop()


def run_stress(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `stress` CLI as a subprocess (exactly as a user would) and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*STRESS, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd or REPO)


@pytest.fixture
def stress():
    """The CLI runner, as a fixture."""
    return run_stress


@pytest.fixture
def java_available() -> None:
    """Skip nothing: the suite requires Java, as the harness's default backend does."""
    assert shutil.which("java"), "Java 17 is required by the default backend and the tests"
