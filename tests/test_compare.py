"""`stress compare` and `stress sweep`: several real runs, one side-by-side report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_stress

pytestmark = pytest.mark.slow


def assert_html_links_exist(report: Path) -> None:
    html = report.read_text()
    assert "http://" not in html and "https://" not in html
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert (report.parent / ref).exists(), ref


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path


# `stress compare --backends local,moto` (and local,moto,endpoint=URL,aws), as the README prints them, run in
# tests/test_readme.py, which checks the conformance matrix (every workload x backend, DynamoDB Local valid), the
# latency and throughput PNGs, the page's links and one seed for every run, on the same runs.


@pytest.fixture(scope="module")
def sweep(local_endpoint, tmp_path_factory) -> tuple[dict, Path, int]:
    """One sweep over 1, 10 and 50 workers with run options (a fault that changes no outcome, and retries) for
    the two tests below: its JSON, its series directory and its exit code."""
    proc = run_stress("sweep", "--workers", "1,10,50", "--workload", "registration", "--keys", "2", "--json",
                      "--fault", "latency:1ms", "--retries", "2", "--seed", "5",
                      "--endpoint-url", local_endpoint.url, "--reports-dir", str(tmp_path_factory.mktemp("sweep")))
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    return result, Path(result["dir"]), proc.returncode


def test_sweep_over_worker_counts(sweep):
    result, out, code = sweep
    assert code == 0, result
    assert [r["label"] for r in result["runs"]] == ["1 workers", "10 workers", "50 workers"]
    assert_png(out / "sweep.png")
    assert_html_links_exist(out / "report.html")
    summary = json.loads((out / "summary.json").read_text())
    failures = [r["summary"]["workloads"][0]["conditional_failed"] for r in summary["runs"]]
    assert failures == [0, 2 * 9, 2 * 49]  # every worker but the winner fails, per key


def test_sweep_takes_run_options_like_faults_and_retries(sweep):
    _, out, _ = sweep
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"] == {"keys": 2, "retries": 2, "faults": ["latency:1ms"]}
    for run in summary["runs"]:
        config = json.loads((Path(run["run_dir"]) / "run.json").read_text())["config"]
        assert config["faults"] == ["latency:1ms"] and config["retries"] == 2 and config["seed"] == 5
        # every request of every run went through the fault proxy
        assert run["summary"]["faults"]["latency"] == run["summary"]["workloads"][0]["requests"] > 0, run["summary"]
    html = (out / "report.html").read_text()
    assert "--retries 2 --fault latency:1ms" in html
    for workers in (1, 10, 50):  # each run's row counts its injected faults: one per request
        assert f"<td>latency {2 * workers}</td>" in html, workers


def test_compare_refuses_a_crash_fault_on_moto(tmp_path):
    proc = run_stress("compare", "--backends", "local,moto", "--fault", "crash:every=5s", "--reports-dir",
                      str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "crash faults need the managed DynamoDB Local" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())  # refused before any run started


@pytest.mark.parametrize(("args", "fragment"), [
    (["compare", "--backends", "local"], "at least two backends"),
    (["compare", "--backends", "local,oracle"], "unknown backend 'oracle'"),
    (["sweep", "--workers", "1,ten"], "comma-separated integers"),
    (["sweep", "--workers", "0,5"], "at least 1"),
])
def test_bad_series_options(args, fragment, tmp_path):
    proc = run_stress(*args, "--reports-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
