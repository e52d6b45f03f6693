"""docs/test-your-code.md as a user meets it (issue 12): every ```python file it prints runs as written with
plain `pytest` in an empty folder, and the real-library examples it points at run green from the checkout.

Both run on the session's DynamoDB Local through the documented `--ddb-endpoint URL`: one JVM for the suite
(a second start costs ~4 s). The plugin's no-server path, which a user meets first, is run by
tests/test_examples.py (`pytest examples/test_my_lock.py` with nothing started).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "test-your-code.md"


def doc_files() -> dict[str, str]:
    """The ```python blocks of the doc, by the file name in their first line (``# test_x.py``)."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)
    return {block.splitlines()[0].removeprefix("# ").strip(): block for block in blocks}


def documented_commands() -> list[str]:
    """The `pytest …` lines of the doc's ```sh blocks (a trailing comment dropped)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)
    return [line.split(" # ")[0].strip() for block in blocks for line in block.splitlines()
            if line.startswith("pytest ")]


def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DDB_ENDPOINT"}


def test_the_doc_files_run_as_written_in_an_empty_folder(tmp_path, local_endpoint):
    files = doc_files()
    assert sorted(files) == ["test_counter.py", "test_coupon.py", "test_lock_library.py", "test_pynamodb_counter.py"]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--ddb-endpoint", local_endpoint.url],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=user_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "5 passed" in proc.stdout


def test_the_library_examples_run_green_from_the_checkout(local_endpoint):
    commands = documented_commands()
    assert commands == ["pytest examples/test_pynamodb_version.py -s", "pytest examples/test_dynamodb_lock.py -s"]
    files = [command.split()[1] for command in commands]
    proc = subprocess.run([str(BIN / "pytest"), "-q", "-s", "-p", "no:cacheprovider", "--ddb-endpoint",
                           local_endpoint.url, *files], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env=user_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "10 passed" in proc.stdout
    assert "applied twice" in proc.stdout and "both held 'deploy'" in proc.stdout  # the findings, with counts
