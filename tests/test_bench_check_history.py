"""benchmarks/bench_check_history.py as it is typed: --small end to end, and --knossos on a directory laid out
like Knossos's test data (data/cas-register/good and bad, the same for mutex and multi-register), built here
from generated histories whose verdicts the brute force gives. Knossos's real files are not in this
repository; the closing notes and the README quote the benchmark on a checkout of them."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from tests.jepsen_histories import brute_force, etcd_history, lock_history, to_edn, txn_history

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks" / "bench_check_history.py"


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def _histories(verdict: str, n: int, seed: int, model: str = "cas-register") -> list[str]:
    """``n`` small etcd-style histories (EDN vectors, as Knossos stores them) that the brute force judges
    ``verdict`` with the register starting at 0, as Knossos's test-examples does; lock histories for
    ``model="mutex"``, txn histories over x and y (both from 0) for ``model="multi-register"``."""
    rng, found = random.Random(seed), []
    while len(found) < n:
        invalid = verdict == "invalid"
        if model == "mutex":
            events = lock_history(rng, rng.randrange(6, 12), corrupt=invalid)
        elif model == "multi-register":
            events = txn_history(rng, rng.randrange(6, 12), corrupt=invalid)
        else:
            events = etcd_history(rng, rng.randrange(6, 12), initial=0, corrupt=invalid)
        initial = {"x": 0, "y": 0} if model == "multi-register" else 0
        if brute_force(events, model=model, initial=initial) == verdict:
            found.append(to_edn(events, "vector", times=False))
    return found


def _knossos_tree(root: Path, good: list[str], bad: list[str], model: str = "cas-register") -> Path:
    for sub, texts in (("good", good), ("bad", bad)):
        folder = root / "data" / model / sub
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"h{i}.edn").write_text(text)
    return root


def test_small_run_agrees_with_the_brute_force() -> None:
    proc = _bench("--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 invalid 90-op histories" in proc.stdout and "all minimal: True" in proc.stdout, proc.stdout
    assert "stress check-history on 10 files" in proc.stdout, proc.stdout
    assert "5/5 small ones equal to the brute force" in proc.stdout, proc.stdout


def test_knossos_data_verdicts_match_their_folders(tmp_path: Path) -> None:
    """Registers (checked from 0), locks (--model mutex) and transactions (--model multi-register from x = y = 0),
    each folder in one call, bad ones timed."""
    _knossos_tree(tmp_path, _histories("valid", 3, 1), _histories("invalid", 2, 2))
    _knossos_tree(tmp_path, _histories("valid", 2, 5, "mutex"), _histories("invalid", 2, 6, "mutex"), "mutex")
    _knossos_tree(tmp_path, _histories("valid", 2, 8, "multi-register"), _histories("invalid", 1, 9, "multi-register"),
                  "multi-register")
    proc = _bench("--knossos", str(tmp_path), "--repeat", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Knossos's data/cas-register (5 files,") and "--model cas-register --initial 0" \
        in lines[0] and "5/5 verdicts as the folder names them" in lines[0], proc.stdout
    assert lines[3].startswith("Knossos's data/mutex (4 files,") and "4/4 verdicts" in lines[3], proc.stdout
    assert lines[6].startswith("Knossos's data/multi-register (3 files,") and "--initial '{\"x\": 0, \"y\": 0}'" \
        in lines[6] and "3/3 verdicts" in lines[6], proc.stdout
    assert [line.split(":")[0] for line in lines[1:3] + lines[4:6] + lines[7:]] == ["  bad/h0.edn", "  bad/h1.edn"] \
        * 2 + ["  bad/h0.edn"]


def test_knossos_data_a_wrong_verdict_fails(tmp_path: Path) -> None:
    """Negative control: an invalid history filed under good/ is reported and the benchmark exits 1."""
    invalid = _histories("invalid", 2, 3)
    root = _knossos_tree(tmp_path, _histories("valid", 1, 4) + invalid[:1], invalid[1:])
    proc = _bench("--knossos", str(root), "--repeat", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2/3 verdicts" in proc.stdout and "wrong: good/h1.edn: invalid" in proc.stdout, proc.stdout
    mutex = tmp_path / "locks"
    _knossos_tree(mutex, _histories("invalid", 1, 7, "mutex"), [], "mutex")
    proc = _bench("--knossos", str(mutex), "--repeat", "1")
    assert proc.returncode == 1 and "wrong: good/h0.edn: invalid" in proc.stdout, proc.stdout


def test_knossos_without_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _bench("--knossos", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no data/cas-register" in proc.stderr, proc.stderr


def test_txn_scale_run_prints_what_it_decided() -> None:
    """--txn --small: two 200-op transaction histories over two registers, one with a read changed, both decided,
    the invalid one's counterexample minimal (the benchmark exits 1 otherwise)."""
    proc = _bench("--txn", "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "200-op txn histories over 2 registers: 2/2 decided in 10 s each (1 valid, 1 invalid, 0 unknown)" \
        in proc.stdout, proc.stdout
    assert "counterexamples not minimal: 0" in proc.stdout, proc.stdout
