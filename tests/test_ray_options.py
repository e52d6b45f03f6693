"""`stress run --executor ray`'s options refused in one line, with or without Ray installed (issue 14)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from harness.backends.servers import free_port
from tests.conftest import REPO, run_stress
from tests.test_cli_errors import assert_usage_error


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--shards", "2"], "--shards applies to --executor ray"),
        (["--ray-address", "auto"], "--ray-address applies to --executor ray"),
        (["--executor", "ray", "--processes", "2"], "with --executor ray use --shards"),
        (["--executor", "ray", "--shards", "0"], "--shards must be at least 1"),
        (["--executor", "ray", "--workers", "2", "--shards", "3"], "--shards 3 is more than --workers 2"),
        (["--executor", "ray", "--ray-address", "nowhere"], "--ray-address 'nowhere'"),
        (["--executor", "spark"], "unknown executor 'spark'"),
    ],
)
def test_bad_ray_options(args, fragment, tmp_path):
    assert_usage_error(run_stress("run", *args, "--reports-dir", str(tmp_path), timeout=60), fragment)


def test_an_address_where_nothing_listens_is_refused_in_one_line(tmp_path):
    """Against a port nobody listens on, ray.init retried for minutes printing Ray's warnings; now one line."""
    pytest.importorskip("ray")
    port = free_port()
    proc = run_stress("run", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--reports-dir",
                      str(tmp_path), timeout=120)
    assert_usage_error(proc, f"--ray-address 127.0.0.1:{port}: nothing accepts a connection")
    assert not list(tmp_path.iterdir())  # refused before a run directory exists


def test_without_ray_installed_one_line_names_the_extra(tmp_path):
    hide_ray = ("import sys; sys.modules['ray'] = None; sys.argv = ['stress'] + sys.argv[1:]; "
                "from harness.__main__ import run; run()")
    proc = subprocess.run([sys.executable, "-c", hide_ray, "run", "--executor", "ray", "--reports-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert_usage_error(proc, "pip install 'ddb-stress[ray]'")


class _Pool:
    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    def describe(self) -> list[dict]:
        return [{"shard": k, "host": host} for k, host in enumerate(self.hosts)]


@pytest.mark.parametrize(("workload", "hosts", "refused"), [
    ("lease-lock", ["node-a", "node-b"], True),
    ("lease-lock", ["node-a", "node-a"], False),
    ("registration", ["node-a", "node-b"], False),
])
def test_a_workload_on_one_clock_is_refused_across_hosts(workload, hosts, refused):
    """lease-lock's leases end on one machine's monotonic clock: its races never start on shards of several
    hosts (a multi-host cluster cannot run here: the shards' reported hosts are given)."""
    from harness.engine.executor import RayShards
    from harness.engine.runner import Pace
    from harness.errors import UsageError
    from workloads import get_workload
    from workloads.base import WorkloadConfig

    shards = RayShards.__new__(RayShards)
    shards.pool, shards._jobs = _Pool(hosts), {}
    instance = get_workload(workload)(WorkloadConfig(4, 2, None, 1, "r"), "t")
    if refused:
        with pytest.raises(UsageError, match=r"needs every worker on one machine.*node-a, node-b"):
            shards.begin(instance, workload, Pace(), None, None)
        assert not shards._jobs
    else:
        shards.begin(instance, workload, Pace(), None, None)
        assert workload in shards._jobs


@pytest.mark.parametrize(("url", "hosts", "refused"), [
    ("http://127.0.0.1:8000", ["elsewhere"], True),
    ("http://127.0.0.1:8000", [socket.gethostname()], False),
    ("https://dynamodb.eu-west-1.amazonaws.com", ["elsewhere"], False),
])
def test_shards_on_other_hosts_cannot_use_a_loopback_endpoint(url, hosts, refused):
    """A managed backend or the fault proxy listens on this machine's 127.0.0.1: shards on other hosts would fail
    every request, so the run is refused in one line (a multi-host cluster cannot run here: hosts are given)."""
    from harness.backends.endpoint import Endpoint
    from harness.engine.executor import RayShards
    from harness.errors import UsageError

    shards = RayShards.__new__(RayShards)
    shards.pool, shards.target = _Pool(hosts), Endpoint("local", url, "us-east-1", "x")
    if refused:
        with pytest.raises(UsageError, match=re.escape("shards on elsewhere cannot reach http://127.0.0.1:8000")):
            shards._check_reach()
    else:
        shards._check_reach()
