"""One managed server for all the runs of one command (`stress run --repeat N`, `stress sweep`): started once,
warmed up once per worker count it has not seen, stopped at the end (harness.backends.servers.KeptServers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3

from harness.backends import servers as backends
from tests.conftest import REPO, STRESS, run_stress


def _run_jsons(stdout: str) -> list[dict]:
    runs = json.loads(stdout)["runs"]
    return [json.loads((Path(run["run_dir"]) / "run.json").read_text()) for run in runs]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _server_dirs(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.glob("ddbstress-*"))


def test_repeats_share_one_dynamodb_local_warmed_up_once(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    done = run_stress("run", "--workload", "registration", "--workers", "4", "--keys", "1", "--rounds", "1",
                      "--repeat", "3", "--json", "--reports-dir", str(tmp_path / "reports"), cwd=REPO,
                      env={**os.environ, "TMPDIR": str(tmpdir)})
    assert done.returncode == 0, done.stderr
    runs = _run_jsons(done.stdout)
    pids = {run["backend"]["pid"] for run in runs}
    assert len(runs) == 3 and len(pids) == 1
    assert runs[0]["warmup"]["ops"] > 0
    assert [run["warmup"].get("by") for run in runs[1:]] == ["an earlier run of this command"] * 2
    assert runs[1]["backend_ready_s"] < runs[0]["backend_ready_s"]
    assert not _alive(pids.pop()) and _server_dirs(tmpdir) == []  # stopped, and its directory gone
    # The JSON says what the three runs together could have caught: one window per race, 3 races.
    out = json.loads(done.stdout)
    peak = max(run["detection"]["registration"]["max_in_flight"] for run in out["runs"])
    assert out["detection"]["registration"] == {"windows": 3, "max_in_flight": peak, "n_95": 1, "weak": True,
                                                "pattern": "burst", "runs": 3}


def test_a_sweep_sizes_the_shared_heap_for_its_biggest_level_and_warms_up_for_more_workers(tmp_path: Path) -> None:
    done = run_stress("sweep", "--workers", "2,8,4", "--workload", "registration", "--keys", "1", "--rounds", "1",
                      "--json", "--reports-dir", str(tmp_path / "reports"), cwd=REPO)
    assert done.returncode == 0, done.stderr
    runs = _run_jsons(done.stdout)
    assert len({run["backend"]["pid"] for run in runs}) == 1
    assert {run["backend"]["java_opts"].split()[0] for run in runs} == {f"-Xmx{backends.local_heap_mb(8)}m"}
    warmups = [run["warmup"] for run in runs]
    assert warmups[0]["ops"] > 0 and warmups[1]["ops"] > warmups[0]["ops"]  # 8 workers: warmed up again
    assert warmups[2] == {"ops": 0, "seconds": 0.0, "by": "an earlier run of this command"}


def test_a_kept_server_that_died_is_started_again_and_every_one_is_stopped() -> None:
    with backends.KeptServers() as kept:
        first = kept.endpoint("moto", None, 0)
        server = kept.servers[("moto", None)]
        first_pid = server.process.pid
        assert kept.endpoint("moto", None, 0) is first  # alive: the same one
        server.process.kill()
        again = kept.endpoint("moto", None, 0)
        second_pid = kept.servers[("moto", None)].process.pid
        assert second_pid != first_pid
        client = boto3.client("dynamodb", **again.client_kwargs())
        assert client.list_tables()["TableNames"] == []
    assert not _alive(first_pid) and not _alive(second_pid) and kept.servers == {}


def test_a_run_on_disk_gets_a_server_of_its_own(local_jar_home: Path, tmp_path: Path) -> None:
    with backends.KeptServers() as kept:
        with backends.open_backend("local", db_path=tmp_path / "db", kept=kept) as endpoint:
            assert endpoint.details["storage"] == str((tmp_path / "db").resolve())
            pid = endpoint.details["pid"]
        assert kept.servers == {} and not _alive(pid)


def test_sigterm_between_two_repeats_stops_the_kept_server(tmp_path: Path) -> None:
    """While the first run draws its report (after its races, before the next run) the kept server is up:
    SIGTERM must stop it and remove its directory, as during a run."""
    tmpdir, reports = tmp_path / "tmpdir", tmp_path / "reports"
    tmpdir.mkdir()
    proc = subprocess.Popen([*STRESS, "run", "--workload", "registration", "--workers", "4", "--keys", "1",
                             "--rounds", "1", "--repeat", "3", "--reports-dir", str(reports)], cwd=REPO,
                            env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(reports.glob("*/*.png")) and proc.poll() is None:
            time.sleep(0.02)
        assert list(reports.glob("*/*.png")), "the first run never drew its report"
        (run_json,) = [json.loads(p.read_text()) for p in reports.glob("*/run.json")]
        pid = run_json["backend"]["pid"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _alive(pid) and _server_dirs(tmpdir) == []
