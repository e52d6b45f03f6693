"""Finding and installing dynalite, an independent DynamoDB implementation in Node (npm package ``dynalite``).

It is installed with ``npm install --prefix <cache>/dynalite/<version>`` (no global install, no install
scripts: in memory it needs no native module) on first use, or ahead of time with
``python -m harness.backends.dynalite_install`` (``make setup`` does).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.backends import local_install
from harness.errors import UsageError

NPM_PACKAGE = "dynalite"
NPM_VERSION = "4.0.0"  # latest on npm (2026-12-01); needs Node >= 20
NODE_MAJOR_MIN = 20


def cache_dir() -> Path:
    """Where the harness keeps dynalite: next to DynamoDB Local in the harness cache."""
    return local_install.cache_dir().parent.parent / NPM_PACKAGE / NPM_VERSION


def package_dir(prefix: Path | None = None) -> Path:
    """The installed package (holding cli.js) under an npm prefix."""
    return (prefix or cache_dir()) / "node_modules" / NPM_PACKAGE


def installed_version(prefix: Path | None = None) -> str | None:
    """The version of the dynalite installed under ``prefix`` (the cache dir), or None if it is not there."""
    pkg = package_dir(prefix)
    try:
        version = json.loads((pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(version) if (pkg / "cli.js").is_file() else None


def find() -> Path | None:
    """The cached dynalite package directory, when the pinned version is installed."""
    return package_dir() if installed_version() == NPM_VERSION else None


def install(force: bool = False) -> Path:
    """``npm install`` the pinned dynalite into the cache dir (atomically); returns the package directory."""
    if not force and find():
        return package_dir()
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError("npm not found: install Node.js 20+ with npm (e.g. apt-get install nodejs npm), "
                         "or use --backend local or moto")
    target = cache_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{NPM_VERSION}-") as tmp:
        proc = subprocess.run([npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--ignore-scripts",
                               "--omit=dev", "--loglevel=error", f"{NPM_PACKAGE}@{NPM_VERSION}"],
                              cwd=tmp, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or installed_version(Path(tmp)) != NPM_VERSION:
            last = (proc.stderr.strip().splitlines() or ["no package installed"])[-1]
            raise UsageError(f"npm install {NPM_PACKAGE}@{NPM_VERSION} failed: {last}")
        if target.exists() and (force or not find()):  # replaced, or a broken install
            shutil.rmtree(target)
        try:
            Path(tmp).rename(target)  # TemporaryDirectory's clean-up then finds nothing to remove
        except OSError as exc:
            if not find():  # else another process installed it meanwhile: keep theirs
                raise UsageError(f"cannot install dynalite into {target}: {exc.strerror or exc}") from None
    return package_dir()


def require_node() -> tuple[str, str]:
    """Path and version of `node` (>= 20, as dynalite requires), or a UsageError naming the fix."""
    node = shutil.which("node")
    fix = "install Node.js 20+ (e.g. apt-get install nodejs npm) or run with --backend local or moto"
    if node is None:
        raise UsageError(f"node not found on PATH: {fix}")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"{node} --version failed ({exc}): {fix}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < NODE_MAJOR_MIN:
        raise UsageError(f"dynalite {NPM_VERSION} needs Node.js {NODE_MAJOR_MIN}+, {node} is {version or '?'}: {fix}")
    return node, version


if __name__ == "__main__":  # python -m harness.backends.dynalite_install [--force]
    try:
        print(f"dynalite {NPM_VERSION}: {install(force='--force' in sys.argv[1:])}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
