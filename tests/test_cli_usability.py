"""The `stress` command as a user meets it (issue 10): help and version, options a backend would ignore,
persistent DynamoDB Local from any directory, cleanup on servers without tags, no temporary directories left
behind by a failed start, and the AWS SDKs' service-specific endpoint override variables. (What the README's
own commands show — `stress local start|status|stop`, AWS_ENDPOINT_URL, no server directory left by a run — is
checked on those commands by tests/test_readme.py.)

Every test runs the installed console script, from a directory of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from harness.backends.aws import table_tags
from harness.backends.endpoint import FAKE_CREDENTIALS, LOCAL_REGION
from tests.test_cli_errors import assert_usage_error
from workloads import BUILTIN

STRESS_BIN = Path(sys.executable).parent / "stress"
SMALL_RUN = ["--workload", "registration", "--workers", "5", "--keys", "2"]
FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIADDBSTRESSTEST", "AWS_SECRET_ACCESS_KEY": "fake-secret",
                "AWS_SESSION_TOKEN": "fake-token"}
SCHEMA = {"AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
          "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}], "BillingMode": "PAY_PER_REQUEST"}


def stress(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `stress` script in ``cwd`` as a user would, capturing its output."""
    return subprocess.run([str(STRESS_BIN), *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def own_tmpdir(tmp_path: Path) -> dict[str, str]:
    """A TMPDIR of the test's own (tempfile honours it), so leftovers of parallel runs do not count."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp)}


def leftovers(tmp_path: Path, prefix: str) -> list[str]:
    """Managed-server working directories left in the test's TMPDIR."""
    return sorted(p.name for p in (tmp_path / "tmpdir").glob(f"{prefix}*"))


def aws_env(tmp_path: Path, **endpoints: str) -> dict[str, str]:
    """Fake credentials, no user AWS config, and the given endpoint override variables."""
    return {**FAKE_AWS_ENV, "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"), **endpoints}


def example_lines(help_text: str) -> list[str]:
    """The lines of the Examples block of a --help page."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:") + 1
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line.strip())
    return block


# --- 14: help, version, refused options -------------------------------------------------------------

def test_version(tmp_path):
    import importlib.metadata

    proc = stress("--version", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ddb-stress {importlib.metadata.version('ddb-stress')}"


def test_workload_help_lists_every_builtin_workload(tmp_path):
    # Wide, so rich does not cut the longest name in its option column: the test reads the help text itself.
    proc = stress("run", "--help", cwd=tmp_path, env={"COLUMNS": "250"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    workload_help = proc.stdout[proc.stdout.index("│ --workload"):proc.stdout.index("│ --keys")]
    for name in BUILTIN:
        assert name in workload_help, (name, workload_help)


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "check", "report", "export", "cleanup",
                                     "local start", "local stop", "local status", "local install"])
def test_every_command_help_has_examples_kept_one_per_line(command, tmp_path):
    proc = stress(*command.split(), "--help", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    examples = example_lines(proc.stdout)
    assert examples, proc.stdout
    assert all(line.startswith(f"stress {command} ") or line == f"stress {command}" for line in examples), examples


def test_unknown_client_lists_auto_too(tmp_path):
    proc = stress("run", "--client", "telepathy", cwd=tmp_path, timeout=60)
    assert_usage_error(proc, "choose one of auto, sdk, prepared")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--backend", "moto", "--local-jar", "/nowhere"], "--local-jar only applies to --backend local"),
        (["run", "--endpoint-url", "http://127.0.0.1:9", "--local-jar", "/nowhere"], "--local-jar only applies"),
        (["run", "--backend", "aws", "--region", "eu-west-1", "--local-jar", "/x"], "--local-jar only applies"),
        (["run", "--backend", "moto", "--persist"], "--persist only applies to --backend local"),
        (["run", "--endpoint-url", "http://127.0.0.1:9", "--persist"], "--persist only applies"),
        (["run", "--region", "eu-west-1"], "--region does not apply to --backend local"),
        (["run", "--backend", "moto", "--region", "eu-west-1"], "--region does not apply to --backend moto"),
        (["run", "--backend", "moto", "--endpoint-url", "http://127.0.0.1:9"],
         "--endpoint-url does not apply to --backend moto"),
        (["run", "--endpoint-url", "http://127.0.0.1:9", "--fault", "crash:every=5s"], "crash faults need"),
        (["sweep", "--workers", "1,2", "--backend", "moto", "--region", "eu-west-1"], "--region does not apply"),
        (["compare", "--backends", "local,moto", "--region", "eu-west-1"], "--region applies to none of"),
        (["compare", "--backends", "moto,endpoint=http://127.0.0.1:9", "--local-jar", "/x"],
         "--local-jar applies to none of"),
    ],
)
def test_options_the_backend_would_ignore_are_refused(args, fragment, tmp_path):
    assert_usage_error(stress(*args, cwd=tmp_path, timeout=60), fragment)


@pytest.fixture(scope="module")
def endpoint_run_with_yes(local_endpoint, tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """`stress run --yes` against the session's DynamoDB Local: one run for the two tests below."""
    return stress("run", *SMALL_RUN, "--yes", "--endpoint-url", local_endpoint.url,
                  cwd=tmp_path_factory.mktemp("endpoint-run"))


def test_yes_without_aws_is_harmless(endpoint_run_with_yes):
    assert endpoint_run_with_yes.returncode == 0, endpoint_run_with_yes.stderr


# --- 2: --persist with the default reports dir ----------------------------------------------------------

def test_persist_with_the_default_reports_dir_from_any_cwd(tmp_path):
    proc = stress("run", *SMALL_RUN, "--persist", cwd=tmp_path, env=own_tmpdir(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Invalid directory" not in proc.stderr
    run_dir = next((tmp_path / "reports").iterdir())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["backend"]["storage"] == str((run_dir / "dynamodb-local-db").resolve())


# --- 10: no working directories left behind ----------------------------------------------------------

# No working directory left behind by a run on a managed local or moto server: every README command runs with
# a TMPDIR of its own and tests/test_readme.py checks that none is left there (`stress run`, `--backend moto`,
# compare, sweep, conform, and `stress local start` / `stop`).


def test_failed_start_up_still_shows_the_log_and_leaves_no_directory(tmp_path):
    env = {**own_tmpdir(tmp_path), "DDB_STRESS_LOCAL_JAVA_OPTS": "-Xmx1k"}  # the JVM refuses to start
    proc = stress("run", *SMALL_RUN, cwd=tmp_path, env=env, timeout=120)
    assert_usage_error(proc, "DynamoDB Local exited during start-up: Error occurred during initialization of VM")
    assert leftovers(tmp_path, "ddbstress-local-") == []


# --- 9 (and 10): a server started by `stress local start` ---------------------------------------------

# A `stress local start` server's life cycle (start prints the endpoint and how to run against it, status names
# it, a run against it is told its version, stop ends it and removes its directory, status then says "not
# running") is checked on the README's own `stress local start|status|stop --port 8000` and the commands it runs
# against that server, in tests/test_readme.py.


def test_other_endpoints_say_version_unknown(local_endpoint, endpoint_run_with_yes):
    # The session's DynamoDB Local was not started by `stress local start`: nothing names it.
    proc = endpoint_run_with_yes
    assert proc.returncode == 0, proc.stderr
    assert f"on DynamoDB-compatible endpoint (version unknown) at {local_endpoint.url}" in proc.stderr
    assert "backend: endpoint DynamoDB-compatible endpoint (version unknown)" in proc.stdout


# --- 8: cleanup on a server without tags ----------------------------------------------------------------

def test_cleanup_on_dynamodb_local_skips_untaggable_tables(local_endpoint, tmp_path):
    client = boto3.client("dynamodb", endpoint_url=local_endpoint.url, region_name=LOCAL_REGION,
                          **FAKE_CREDENTIALS)
    name = f"ddbstress-20200101-000000-{os.getpid() % 10_000:04d}-registration"
    client.create_table(TableName=name, **SCHEMA)
    try:
        for extra in ([], ["--yes"]):
            proc = stress("cleanup", "--endpoint-url", local_endpoint.url, "--older-than", "0m", *extra,
                          cwd=tmp_path, timeout=60)
            assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr
            why = [line for line in proc.stdout.splitlines() if "cannot show table tags" in line]
            assert len(why) == 1 and "never deleted" in why[0], proc.stdout
            assert f"skipped (tags unreadable): {name}" in proc.stdout
            assert "deleted:" not in proc.stdout.replace("never deleted", "")
            assert name in client.list_tables()["TableNames"]
    finally:
        client.delete_table(TableName=name)


# --- AWS endpoint override variables --------------------------------------------------------------------

# `stress run --backend aws` honouring AWS_ENDPOINT_URL (the plan names moto's account, nothing is left in it,
# run.json records the endpoint really used) is the README's `stress run --backend aws --region eu-west-1 --yes`,
# run in tests/test_readme.py against a moto server posing as AWS through that variable.


def test_service_specific_endpoint_variables_win(moto_endpoint, tmp_path):
    """AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_STS each beat AWS_ENDPOINT_URL (a dead port here)."""
    env = aws_env(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ENDPOINT_URL_DYNAMODB=moto_endpoint.url,
                  AWS_ENDPOINT_URL_STS=moto_endpoint.url)
    proc = stress("run", "--backend", "aws", "--region", "eu-west-1", *SMALL_RUN, "--yes", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr


def test_cleanup_region_honours_AWS_ENDPOINT_URL(moto_endpoint, tmp_path):
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint.url, region_name="eu-west-1", **FAKE_CREDENTIALS)
    name = f"ddbstress-20200101-000000-{os.getpid() % 10_000:04d}-role-update"
    client.create_table(TableName=name, Tags=table_tags("x"), **SCHEMA)
    try:
        proc = stress("cleanup", "--region", "eu-west-1", "--older-than", "0s", cwd=tmp_path,
                      env=aws_env(tmp_path, AWS_ENDPOINT_URL=moto_endpoint.url), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert f"would delete: {name}" in proc.stdout
    finally:
        client.delete_table(TableName=name)
