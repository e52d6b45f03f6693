"""Commands that only read a run directory need no AWS SDK (issue 13): `stress check`, `report` and
`export` run with aioboto3, aiobotocore, botocore and boto3 made unimportable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_stress

DATA = Path(__file__).parent / "data"
BLOCKER = '''
import importlib.abc
import sys

BLOCKED = ("aioboto3", "aiobotocore", "botocore", "boto3")


class _NoSdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked by the no-SDK test")


sys.meta_path.insert(0, _NoSdk())
'''


@pytest.fixture
def no_sdk(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import the AWS SDK (a sitecustomize that refuses it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def run_dir(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(DATA / name, target)
    return target


def test_the_blocker_blocks(no_sdk, tmp_path):
    """The negative control: a command that needs the SDK fails under the same environment."""
    proc = run_stress("run", "--workers", "2", "--keys", "1", "--backend", "moto", env=no_sdk, cwd=tmp_path)
    assert proc.returncode != 0 and "blocked by the no-SDK test" in proc.stderr, proc.stderr[-2000:]


def test_check_report_and_export_run_without_the_sdk(no_sdk, tmp_path):
    valid = run_dir(tmp_path, "local_role_update_valid")
    proc = run_stress("check", str(valid), env=no_sdk, cwd=tmp_path)
    assert proc.returncode == 0 and "verdict: VALID" in proc.stdout, proc.stderr[-2000:]
    broken = run_dir(tmp_path, "moto_role_update_double_winner")
    proc = run_stress("check", str(broken), "--json", env=no_sdk, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    proc = run_stress("report", str(broken), env=no_sdk, cwd=tmp_path)
    assert proc.returncode == 0 and (broken / "report.html").exists(), proc.stderr[-2000:]
    proc = run_stress("export", str(valid), "--format", "edn", env=no_sdk, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("{:index"), proc.stderr[-2000:]
