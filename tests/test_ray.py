"""`stress run --executor ray`: shards as Ray actors on a two-node Ray cluster on 127.0.0.1 (issue 14).

One cluster for the module (starting Ray costs ~15 s here); each test drives the `stress` console script
against it and the session's DynamoDB Local. Skipped, in one line, when Ray is not installed.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'ddb-stress[ray]')")

from harness.history.events import pair_ops, read_events
from tests.conftest import REPO, STRESS, run_stress, sigint_as_at_a_terminal, stdout_json

pytestmark = pytest.mark.slow
MB = 1024 * 1024


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A Ray cluster of two nodes (one CPU each) on 127.0.0.1, for the module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 80 * MB, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


def _ray_run(address: str, endpoint: str, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stress("run", "--executor", "ray", "--ray-address", address, "--shards", "2", "--json",
                      "--backend", "endpoint", "--endpoint-url", endpoint, "--reports-dir", str(reports), *args,
                      timeout=240)


@pytest.fixture(scope="module")
def two_shard_run(ray_address, local_endpoint, tmp_path_factory) -> tuple[dict, int]:
    """Both default workloads, 40 workers over 2 shards on the 2 nodes."""
    proc = _ray_run(ray_address, local_endpoint.url, tmp_path_factory.mktemp("reports"),
                    "--workers", "40", "--keys", "3", "--rounds", "2", "--seed", "7")
    return stdout_json(proc), proc.returncode


def test_two_shards_on_two_nodes_are_valid(two_shard_run):
    summary, code = two_shard_run
    assert code == 0, summary
    assert [w["name"] for w in summary["workloads"]] == ["registration", "role-update"]
    for w in summary["workloads"]:
        assert w["verdict"] == "valid", w["violations"]
        assert w["requests"] >= 40 * 3 * 2 and w["winners_per_race"]["max"] == 1
    assert any(note.startswith("clocks: shard 0 ±") for note in summary["notes"])
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    shards = meta["shards"]
    assert [s["shard"] for s in shards] == [0, 1] and [s["workers"] for s in shards] == [20, 20]
    assert len({s["node_id"] for s in shards}) == 2, "the SPREAD placement group put the shards on both nodes"
    for s in shards:
        clock = s["clock"]
        # One machine, one clock: the true offset, 0, is within the measured bound.
        assert clock["eps_ns"] > 0 and abs(clock["offset_ns"]) <= clock["eps_ns"], clock
        assert s["clock_after"] is not None
    assert meta["ray"]["lost"] == []


def test_the_merged_history_keeps_every_ops_shard(two_shard_run):
    summary, _ = two_shard_run
    run_dir = Path(summary["run_dir"])
    assert not list(run_dir.glob("history.shard-*.jsonl")), "the spool files are removed once merged"
    events = read_events(run_dir / "history.jsonl")
    assert [e["index"] for e in events] == list(range(len(events)))
    assert all(a["time"] <= b["time"] for a, b in itertools.pairwise(events))
    ops = pair_ops(events)
    assert all(op.extra["shard"] == op.process % 2 for op in ops)  # worker k runs on shard k mod 2
    assert all(op.complete_time is not None and op.complete_time >= op.invoke_time for op in ops)
    again = run_stress("check", str(run_dir), "--json")
    assert again.returncode == 0 and stdout_json(again)["workloads"] == summary["workloads"]


def test_unsafe_registration_on_two_shards_is_invalid(ray_address, local_endpoint, tmp_path):
    proc = _ray_run(ray_address, local_endpoint.url, tmp_path, "--workload", "registration", "--unsafe",
                    "--workers", "40", "--keys", "2", "--rounds", "1")
    summary = stdout_json(proc)
    assert proc.returncode == 1 and summary["verdict"] == "invalid", proc.stderr[-2000:]
    assert any(v["kind"] == "multiple-winners" for v in summary["workloads"][0]["violations"])


def _start(args: list[str], reports: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*STRESS, "run", "--executor", "ray", "--shards", "2", "--json", "--reports-dir",
                             str(reports), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, stdin=subprocess.DEVNULL, preexec_fn=sigint_as_at_a_terminal)


def _when_racing(reports: Path, proc: subprocess.Popen[str], shard: int) -> dict:
    """run.json once the shards are up and ``shard`` has handed back some events (polling, bounded)."""
    for _ in range(1200):
        assert proc.poll() is None, proc.communicate()
        spools = list(reports.glob(f"*/history.shard-{shard}.jsonl"))
        if spools and spools[0].stat().st_size > 20_000:
            meta = json.loads((spools[0].parent / "run.json").read_text())
            if meta.get("shards"):
                return meta
        time.sleep(0.1)
    raise AssertionError("the run never got racing")


def test_a_shard_lost_mid_run_gives_unknown_naming_it(ray_address, local_endpoint, tmp_path):
    proc = _start(["--ray-address", ray_address, "--workload", "role-update", "--workers", "8", "--keys", "2",
                   "--rounds", "2000", "--backend", "endpoint", "--endpoint-url", local_endpoint.url], tmp_path)
    try:
        meta = _when_racing(tmp_path, proc, shard=1)
        os.kill(meta["shards"][1]["pid"], signal.SIGKILL)  # the shard's actor process, started by this test
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    summary = json.loads(out)
    assert proc.returncode == 3 and summary["verdict"] == "unknown", err[-2000:]
    assert any("shard 1 was lost" in reason for reason in summary["workloads"][0]["unknowns"])
    run_dir = Path(summary["run_dir"])
    meta = json.loads((run_dir / "run.json").read_text())
    assert [lost["shard"] for lost in meta["ray"]["lost"]] == [1]
    assert {op.extra["shard"] for op in pair_ops(read_events(run_dir / "history.jsonl"))} == {0, 1}
    again = run_stress("check", str(run_dir), "--json")  # the history it left is checkable alone
    assert again.returncode == 3 and stdout_json(again)["verdict"] == "unknown"


def _ray_processes(temp_dir: str) -> list[str]:
    """Command lines of the processes of the Ray whose temp directory is ``temp_dir``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if temp_dir in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_on_a_private_local_ray_leaves_nothing_running(local_endpoint, tmp_path):
    """Without --ray-address the run starts its own Ray on 127.0.0.1; Ctrl-C mid-race stops all of it."""
    proc = _start(["--workload", "registration", "--workers", "8", "--keys", "2", "--rounds", "3000",
                   "--backend", "endpoint", "--endpoint-url", local_endpoint.url], tmp_path)
    try:
        meta = _when_racing(tmp_path, proc, shard=0)
        temp_dir = meta["ray"]["temp_dir"]
        assert temp_dir and _ray_processes(temp_dir), "the private Ray runs under its own temp directory"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert _ray_processes(temp_dir) == [], "raylet, gcs_server or a shard outlived the run"
    assert not Path(temp_dir).exists()


MS = 1_000_000


def test_merge_puts_each_shard_on_the_driver_clock_and_chunks_land_in_order(tmp_path):
    """No cluster needed: the spool files of two shards whose clocks are 5 ms ahead and 2 ms behind the driver's
    merge into one history on the driver's time base; a chunk that overtakes an earlier one waits for it."""
    from harness.backends.endpoint import Endpoint
    from harness.engine.ray_shards import ShardPool, merge_shards, shard_configs, spool_path
    from harness.history.events import HistoryWriter

    def line(shard: int, type_: str, process: int, at_ms: int) -> bytes:
        return json.dumps({"type": type_, "process": process, "workload": "registration", "f": "register",
                           "key": "k", "value": None, "time": at_ms * MS, "round": 0, "shard": shard}).encode() + b"\n"

    configs = shard_configs(Endpoint("endpoint", "http://127.0.0.1:1", "us-east-1", "x"), "prepared", 4, 2, 0, 1.0)
    pool = ShardPool(configs, None, tmp_path)
    # shard 0 (clock +5 ms): worker 0 at driver times 10..30; its second chunk arrives first
    pool._spool(0, (1, line(0, "ok", 0, 35)))
    assert spool_path(tmp_path, 0).read_bytes() == b""
    pool._spool(0, (0, line(0, "invoke", 0, 15)))
    # shard 1 (clock -2 ms): worker 1 at driver times 12..22
    pool._spool(1, (0, line(1, "invoke", 1, 10) + line(1, "fail", 1, 20)))
    for spool in pool._spools:
        spool.close()
    with HistoryWriter(tmp_path / "history.jsonl") as out:
        bursts = merge_shards([spool_path(tmp_path, k) for k in range(2)], [5 * MS, -2 * MS], out)
    events = read_events(tmp_path / "history.jsonl")
    assert [(e["shard"], e["type"], e["time"] // MS, e["index"]) for e in events] == [
        (0, "invoke", 10, 0), (1, "invoke", 12, 1), (1, "fail", 22, 2), (0, "ok", 30, 3)]
    assert bursts.summary()["start_skew_ms"]["max"] == pytest.approx(2.0, rel=1e-3)
