"""dynalite as a managed backend (issue 15): installed into the harness cache, started on a free loopback port,
stopped — with its working directory — when the run ends; no node gives one line and exit 2.

Every run drives the installed console script from a directory (and TMPDIR) of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import dynalite_install
from harness.engine.series import parse_backends
from tests.conftest import run_stress
from tests.test_cli_errors import assert_usage_error

SMALL = ["--backend", "dynalite", "--workers", "20", "--keys", "2"]


def own_tmpdir(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp)}


def runs_dynalite(pid: int) -> bool:
    """True while ``pid`` is a live dynalite (a recycled pid is not mistaken for it)."""
    try:
        return b"dynalite" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def assert_cleaned_up(tmp_path: Path) -> dict:
    """The run's dynalite is gone, and so is its working directory; returns run.json's backend."""
    run_dir = next((tmp_path / "reports").iterdir())
    backend = json.loads((run_dir / "run.json").read_text())["backend"]
    assert backend["kind"] == "dynalite" and backend["version"] == f"dynalite {dynalite_install.NPM_VERSION}"
    assert not runs_dynalite(backend["pid"]), f"dynalite pid {backend['pid']} still running"
    assert list((tmp_path / "tmpdir").glob("ddbstress-dynalite-*")) == []
    return backend


def test_default_workloads_are_valid_and_nothing_is_left_behind(tmp_path):
    proc = run_stress("run", *SMALL, cwd=tmp_path, env=own_tmpdir(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "on dynalite 4.0.0 at http://127.0.0.1:" in proc.stderr
    assert "verdict: VALID" in proc.stdout
    backend = assert_cleaned_up(tmp_path)
    assert backend["storage"] == "memory" and backend["node"].startswith("v")


def test_unsafe_is_invalid(tmp_path):
    proc = run_stress("run", *SMALL, "--unsafe", cwd=tmp_path, env=own_tmpdir(tmp_path), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict: INVALID" in proc.stdout
    assert_cleaned_up(tmp_path)
    verdict = json.loads((next((tmp_path / "reports").iterdir()) / "verdict.json").read_text())
    assert {w["name"]: w["verdict"] for w in verdict["workloads"]} == {"registration": "invalid",
                                                                       "role-update": "invalid"}


def test_no_node_is_one_line_naming_the_fix(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run_stress("run", *SMALL, cwd=tmp_path, env={**own_tmpdir(tmp_path), "PATH": str(empty)}, timeout=60)
    assert_usage_error(proc, "node not found on PATH: install Node.js 20+")
    assert "--backend local or moto" in proc.stderr
    assert list((tmp_path / "tmpdir").glob("ddbstress-dynalite-*")) == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["run", "--backend", "dynalite", "--region", "eu-west-1"], "--region does not apply to --backend dynalite"),
    (["run", "--backend", "dynalite", "--endpoint-url", "http://127.0.0.1:9"],
     "--endpoint-url does not apply to --backend dynalite"),
    (["run", "--backend", "dynalite", "--persist"], "--persist only applies to --backend local"),
    (["run", "--backend", "dynalite", "--fault", "crash:every=5s"], "crash faults need"),
])
def test_options_dynalite_would_ignore_are_refused(args, fragment, tmp_path):
    assert_usage_error(run_stress(*args, cwd=tmp_path, timeout=60), fragment)


def test_compare_accepts_dynalite():
    assert [(b.label, b.kind) for b in parse_backends("local,moto,dynalite")] == [
        ("local", "local"), ("moto", "moto"), ("dynalite", "dynalite")]


def test_install_into_an_empty_cache(tmp_path):
    """What `make setup` runs: npm installs the pinned version into the cache; a second call is a no-op."""
    env = {**os.environ, "DDB_STRESS_CACHE": str(tmp_path / "cache")}
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "harness.backends.dynalite_install"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    package = tmp_path / "cache" / "dynalite" / "4.0.0" / "node_modules" / "dynalite"
    assert proc.stdout.strip() == f"dynalite 4.0.0: {package}"
    assert json.loads((package / "package.json").read_text())["version"] == "4.0.0"
    assert [p.name for p in (tmp_path / "cache" / "dynalite").iterdir()] == ["4.0.0"]  # no staging dir left
