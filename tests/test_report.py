"""The per-run report: PNG plots and report.html built from a run directory alone (no backend).

``write_sample_run`` builds a synthetic but realistic run directory: two workloads, five keys each,
fifty workers racing on every key with overlapping times, one key with two winners (and the
violation in verdict.json), a few indeterminate ops, one error, one op that never completed and a
nemesis fault. ``tests/data/sample_run/`` is its committed output; regenerate it with
``.venv/bin/python tests/test_report.py``.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

SAMPLE_DIR = Path(__file__).parent / "data" / "sample_run"
RUN_ID = "20250301T120000Z-sample"
VIOLATION_KEY = "user-0003"
INFO_KEY = "user-0001"
ERROR_KEY = "user-0002"
FAULT_ROUND = 2  # registration key index raced while the latency fault is on
MS = 1_000_000  # ns
# What every nemesis event of the sample carries; the callers add value and time (in the order they add them,
# so that history.jsonl stays byte for byte the committed one).
NEMESIS = {"type": "info", "process": "nemesis", "workload": "", "f": "fault", "key": ""}


# --------------------------------------------------------------------------- synthetic run


class _History:
    """Collects events with their times; indices are assigned in time order at the end."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, **event: Any) -> dict[str, Any]:
        self.events.append(event)
        return event

    def finish(self) -> list[dict[str, Any]]:
        self.events.sort(key=lambda ev: ev["time"])
        for i, ev in enumerate(self.events):
            ev["index"] = i
        return self.events


def _race(rng: random.Random, start: int, workers: int, extra_ms: float = 0.0) -> list[tuple[int, int, int]]:
    """(process, invoke ns, arrival-at-server ns) of workers released together by a barrier."""
    racers = []
    for p in range(workers):
        invoke = start + int(rng.expovariate(1 / 0.8) * MS)
        arrival = invoke + int((rng.lognormvariate(math.log(1.5), 0.4) + extra_ms) * MS)
        racers.append((p, invoke, arrival))
    return sorted(racers, key=lambda r: r[2])


def _completion(rng: random.Random, arrival: int, rank: int) -> int:
    """Service time plus a little queueing behind the requests that arrived earlier."""
    return arrival + int((rng.lognormvariate(math.log(3.0), 0.5) + rank * 0.12) * MS)


def _registration(
    h: _History,
    rng: random.Random,
    t: int,
    workers: int,
    keys: int,
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Each key raced by every worker; returns (end time, final state, invokes of the double winners)."""
    final: dict[str, Any] = {}
    violation_ops: list[dict[str, Any]] = []
    for k in range(keys):
        key = f"user-{k:04d}"
        in_fault = k == FAULT_ROUND
        if in_fault:
            h.add(**NEMESIS, value={"kind": "latency", "phase": "start", "delay_ms": 20}, time=t - 2 * MS)
        racers = _race(rng, t, workers, extra_ms=20.0 if in_fault else 0.0)
        n_winners = 2 if key == VIOLATION_KEY else 1
        end = t
        for rank, (p, invoke, arrival) in enumerate(racers):
            payload = {"Email": f"w{p}@example.com", "RequestId": f"r-{k}-{p}"}
            inv = h.add(
                type="invoke",
                process=p,
                workload="registration",
                f="register",
                key=key,
                value=payload,
                time=invoke,
                round=0,
            )
            done = _completion(rng, arrival, rank)
            common = {"process": p, "workload": "registration", "f": "register", "key": key, "round": 0}
            if rank < n_winners:
                h.add(type="ok", value=payload, time=done, attempts=1, **common)
                final[key] = {"Username": key, **payload}
                if n_winners > 1:
                    violation_ops.append(inv)
            elif key == INFO_KEY and rank in (7, 31):
                done = invoke + 250 * MS  # the proxy dropped the response: the client timed out
                h.add(**NEMESIS, time=arrival + 3 * MS,
                      value={"kind": "lost-ack", "conn": p + 1, "request": rank, "status": 200})
                h.add(type="info", value=None, time=done, error="ReadTimeoutError", attempts=1, **common)
            elif key == ERROR_KEY and rank == 12:
                h.add(type="fail", value=None, time=done, error="InternalServerError", attempts=3, **common)
            else:
                old = dict(final[key])  # the whole stored item, as DynamoDB returns it
                h.add(
                    type="fail",
                    value=None,
                    time=done,
                    error="ConditionalCheckFailedException",
                    attempts=1,
                    old=old,
                    **common,
                )
            end = max(end, done)
        if in_fault:
            h.add(**NEMESIS, value={"kind": "latency", "phase": "stop"}, time=end + 2 * MS)
        t = end + int(rng.uniform(15, 40) * MS)
    return t, final, violation_ops


def _role_update(
    h: _History,
    rng: random.Random,
    t: int,
    workers: int,
    keys: int,
    rounds: int = 2,
) -> tuple[int, dict[str, Any]]:
    """CAS races on the same keys, round after round; a few reads; the very last op never completes."""
    roles = {f"role-{k:04d}": "member" for k in range(keys)}
    for round_ in range(rounds):
        for k, key in enumerate(roles):
            racers = _race(rng, t, workers)
            end = t
            winner_value = f"w{racers[0][0]}-r{round_}"
            for rank, (p, invoke, arrival) in enumerate(racers):
                value = {"expected": roles[key], "new": f"w{p}-r{round_}"}
                common = {"process": p, "workload": "role-update", "key": key, "round": round_}
                h.add(type="invoke", f="cas", value=value, time=invoke, **common)
                if (round_, k, rank) == (rounds - 1, keys - 1, workers - 1):
                    continue  # the run died with this request in flight
                done = _completion(rng, arrival, rank)
                if rank == 0:
                    h.add(type="ok", f="cas", value=value, time=done, **common)
                else:
                    h.add(
                        type="fail",
                        f="cas",
                        value=None,
                        time=done,
                        error="ConditionalCheckFailedException",
                        old={"Role": winner_value},
                        **common,
                    )
                if rank % 10 == 3:
                    read_at = done + int(rng.uniform(0.5, 2) * MS)
                    h.add(type="invoke", f="read", value=None, time=read_at, **common)
                    h.add(type="ok", f="read", value=winner_value, time=read_at + int(rng.uniform(1, 3) * MS), **common)
                    done = read_at + 3 * MS
                end = max(end, done)
            roles[key] = winner_value
            t = end + int(rng.uniform(15, 40) * MS)
    return t, {key: {"Role": role} for key, role in roles.items()}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _workload_summary(
    name: str,
    events: list[dict[str, Any]],
    violations: list[dict[str, Any]],
) -> dict[str, Any]:
    """A verdict.json workload entry computed the simple way from the events."""
    from harness.history.events import pair_ops

    ops = [op for op in pair_ops(events) if op.workload == name]
    counts = {
        o: sum(1 for op in ops if op.outcome == o) for o in ("ok", "conditional_failed", "indeterminate", "error")
    }
    lat = [op.latency_ns / MS for op in ops if op.latency_ns is not None]
    keys = sorted({op.key for op in ops})
    races: dict[tuple[str, Any], int] = {}
    for op in ops:
        if op.f != "read":
            race = (op.key, op.extra.get("round"))
            races[race] = races.get(race, 0) + (op.type == "ok")
    return {
        "name": name,
        "verdict": "invalid" if violations else "valid",
        "requests": len(ops),
        "ok": counts["ok"],
        "conditional_failed": counts["conditional_failed"],
        "indeterminate": counts["indeterminate"],
        "errors": counts["error"],
        "keys": len(keys),
        "winners_per_key": {"min": min(races.values()), "max": max(races.values())},
        "max_in_flight": 50,
        "latency_ms": {"p50": round(_percentile(lat, 50), 3), "p99": round(_percentile(lat, 99), 3)},
        "violations": violations,
        "unknowns": [],
    }


def write_sample_run(run_dir: Path, seed: int = 7, workers: int = 50, keys: int = 5) -> Path:
    """Write run.json, history.jsonl, final_state.json and verdict.json of a synthetic run.

    The checkers (which the report re-runs) find the same violation in it as verdict.json: every loser's
    ALL_OLD is the whole stored item, as DynamoDB returns it, and the fault is a full spec (``latency:20ms``).
    """
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    h = _History()
    t0 = 5_000_000_000_000
    t, reg_final, winner_events = _registration(h, rng, t0, workers, keys)
    _, role_final = _role_update(h, rng, t, workers, keys)
    events = h.finish()
    winner_idx = [ev["index"] for ev in winner_events]
    violation = {
        "kind": "multiple-winners",
        "key": VIOLATION_KEY,
        "message": f"2 conditional registrations of {VIOLATION_KEY} both succeeded (<expected> exactly 1 & no more)",
        "ops": winner_idx,
        "details": {"winners": len(winner_idx)},
    }
    with (run_dir / "history.jsonl").open("w") as fh:
        for ev in events:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
    backend = {"kind": "dynamodb-local", "endpoint": "http://127.0.0.1:8000", "version": "2.5.2"}
    run = {
        "format": 1,
        "run_id": RUN_ID,
        "started_at": "2025-03-01T12:00:00Z",
        "config": {
            "workers": workers,
            "keys": keys,
            "rounds": {"registration": 1, "role-update": 2},
            "workloads": ["registration", "role-update"],
            "seed": seed,
            "retries": 0,
            "timeout": 0.25,
            "rate": None,
            "duration": None,
            "faults": ["latency:20ms"],
        },
        "backend": backend,
        "versions": {"ddb_stress": "0.1.0", "python": "3.11.2", "aioboto3": "13.2.0", "botocore": "1.35.36"},
    }
    verdict = {
        "verdict": "invalid",
        "run_dir": str(run_dir),
        "backend": backend,
        "workloads": [
            _workload_summary("registration", events, [violation]),
            _workload_summary("role-update", events, []),
        ],
    }
    for name, obj in (
        ("run.json", run),
        ("verdict.json", verdict),
        ("final_state.json", {"registration": reg_final, "role-update": role_final}),
    ):
        (run_dir / name).write_text(json.dumps(obj, indent=2) + "\n")
    return run_dir


# --------------------------------------------------------------------------- helpers


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load_png(path: Path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    return imread(str(path))


EMBEDDED_PNG = "data:image/png;base64,"


class _Refs(HTMLParser):
    """The src/href values of a page; images embedded as PNG data URIs are kept apart (they refer to nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.embedded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k not in ("src", "href") or v is None:
                continue
            if tag == "img" and k == "src" and v.startswith(EMBEDDED_PNG):
                self.embedded.append(v)
            else:
                self.refs.append(v)


def _refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.report import render_report

    run_dir = write_sample_run(tmp_path_factory.mktemp("run") / RUN_ID)
    return render_report(run_dir)


def _expected_pngs() -> set[str]:
    # ties go to the first key, earliest round; the violation is in round 0 of its key.
    return {
        "registration-outcomes.png",
        "registration-latency.png",
        "registration-throughput.png",
        "registration-race-user-0000-r0.png",
        f"registration-race-{VIOLATION_KEY}-r0.png",
        "role-update-outcomes.png",
        "role-update-latency.png",
        "role-update-throughput.png",
        "role-update-race-role-0000-r0.png",
    }


# --------------------------------------------------------------------------- tests


def test_sample_history_is_realistic(tmp_path: Path) -> None:
    from harness.history.events import fault_events, pair_ops, read_events

    events = read_events(write_sample_run(tmp_path / "run") / "history.jsonl")
    ops = pair_ops(events)
    outcomes = {op.outcome for op in ops}
    assert outcomes == {"ok", "conditional_failed", "indeterminate", "error"}
    assert sum(1 for op in ops if op.complete_time is None) == 1
    assert len(list(fault_events(events))) == 4
    reg = [op for op in ops if op.key == VIOLATION_KEY and op.type == "ok"]
    assert len(reg) == 2
    overlapping = [op for op in ops if op.key == VIOLATION_KEY and op.invoke_time < reg[0].complete_time]
    assert len(overlapping) > 10


def test_render_report_writes_every_png(rendered: Path) -> None:
    run_dir = rendered.parent
    assert rendered == run_dir / "report.html"
    pngs = {p.name for p in run_dir.glob("*.png")}
    assert pngs == _expected_pngs()
    for name in pngs:
        image = _load_png(run_dir / name)
        height, width = image.shape[:2]
        assert width >= 800 and height >= 400, (name, image.shape)
        assert float(image[..., :3].std()) > 0.05, f"{name} looks blank"
        assert (run_dir / name).stat().st_size < 400_000, f"{name} is too large"


def test_every_reference_is_local_and_exists(rendered: Path) -> None:
    html = rendered.read_text()
    refs = _refs(html)
    assert any(r.endswith(".png") for r in refs)
    assert {"history.jsonl", "verdict.json", "run.json", "final_state.json"} <= set(refs)
    for ref in refs:
        if ref.startswith("#"):
            continue
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.I), f"non-local reference {ref}"
        assert (rendered.parent / ref).is_file(), ref
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html


def test_report_content(rendered: Path) -> None:
    html = rendered.read_text()
    verdict = json.loads((rendered.parent / "verdict.json").read_text())
    assert ">INVALID<" in html
    assert RUN_ID in html
    assert "dynamodb-local" in html and "http://127.0.0.1:8000" in html and "2.5.2" in html
    assert "multiple-winners" in html
    for index in verdict["workloads"][0]["violations"][0]["ops"]:
        assert f"<td>{index}</td>" in html
    assert "How to read the race timeline" in html


def _render_from_saved_verdict(run_dir: Path) -> str:
    """The report of a run the checkers cannot re-run (run.json of an unknown format): it shows verdict.json."""
    from harness.report import render_report

    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "format": 99}))
    return render_report(run_dir).read_text()


def test_data_is_escaped(tmp_path: Path) -> None:
    # verdict.json's message is only shown when the checkers cannot run (else theirs is): see test_report_fresh.
    html = _render_from_saved_verdict(write_sample_run(tmp_path / "run", workers=8, keys=4))
    assert "<expected>" not in html
    assert "(&lt;expected&gt; exactly 1 &amp; no more)" in html


def test_unknown_badge_from_history_alone(tmp_path: Path) -> None:
    from harness.report import render_report

    run_dir = write_sample_run(tmp_path / "run", workers=8, keys=2)
    for name in ("verdict.json", "run.json", "final_state.json"):
        (run_dir / name).unlink()
    html = render_report(run_dir).read_text()
    assert ">UNKNOWN<" in html
    assert "verdict.json is missing" in html
    for ref in _refs(html):
        assert ref.startswith("#") or (run_dir / ref).is_file()


def test_committed_sample_run_matches_generator_and_renders(tmp_path: Path) -> None:
    from harness.report import render_report

    fresh = write_sample_run(tmp_path / "fresh")
    for name in ("history.jsonl", "final_state.json", "run.json"):
        assert (SAMPLE_DIR / name).read_text() == (fresh / name).read_text(), name
    copy = tmp_path / "copy"
    shutil.copytree(SAMPLE_DIR, copy)
    assert render_report(copy).is_file()


def test_big_race_stays_small(tmp_path: Path) -> None:
    from harness.history.events import pair_ops, read_events
    from harness.report.timeline import Race, plot_race_timeline

    run_dir = write_sample_run(tmp_path / "run", workers=450, keys=1)
    ops = pair_ops(read_events(run_dir / "history.jsonl"))
    out = plot_race_timeline(ops, "registration", Race("user-0000", 0), tmp_path / "big.png")
    assert out.stat().st_size < 400_000
    assert _load_png(out).shape[1] >= 800


def test_race_timeline_marks_faults_inside_the_race(tmp_path: Path) -> None:
    from harness.history.events import pair_ops, read_events
    from harness.report.faults import FaultSpan
    from harness.report.timeline import Race, plot_race_timeline

    run_dir = write_sample_run(tmp_path / "run", workers=40, keys=1)
    ops = [op for op in pair_ops(read_events(run_dir / "history.jsonl")) if op.key == "user-0000"]
    first = min(op.invoke_time for op in ops)
    last = max(op.complete_time or op.invoke_time for op in ops)
    inside = [FaultSpan(first + (last - first) * k // 5, None, "lost-ack") for k in range(1, 5)]
    outside = [FaultSpan(last + 10**9, None, "lost-ack")]
    lost_ack = (0xE3, 0x77, 0xC2)  # style.FAULT_COLORS["lost-ack"]

    def pink_pixels(faults: list[FaultSpan], name: str) -> int:
        out = plot_race_timeline(ops, "registration", Race("user-0000", 0), tmp_path / name, faults=faults)
        rgb = (_load_png(out)[..., :3] * 255).round().astype(int)
        return int((abs(rgb - lost_ack).sum(axis=-1) < 30).sum())

    assert pink_pixels(inside, "with.png") > 4 * pink_pixels(outside, "outside.png") + 50  # ticks + legend swatch


def test_fault_spans() -> None:
    from harness.report.faults import fault_spans

    events = [
        {"time": 10, "type": "info", "value": {"kind": "latency", "phase": "start"}},
        {"time": 20, "type": "info", "value": {"kind": "latency", "phase": "stop"}},
        {"time": 30, "type": "invoke", "value": {"kind": "reset"}},
        {"time": 40, "type": "info", "value": {"kind": "stall", "duration_ms": 2}},
        {"time": 50, "type": "info", "value": {"kind": "lost-ack"}},
    ]
    spans = [(s.start, s.end, s.label) for s in fault_spans(events, t_end=100)]
    assert spans == [(10, 20, "latency"), (30, 100, "reset"), (40, 2_000_040, "stall"), (50, None, "lost-ack")]


def test_percentiles_and_bins() -> None:
    from harness.checker.percentiles import percentiles
    from harness.report.throughput import bin_width_s

    pct = percentiles([float(i) for i in range(1, 1001)])
    assert pct["p50"] == pytest.approx(500, rel=0.01)
    assert pct["p99"] == pytest.approx(990, rel=0.01)
    assert pct["max"] == pytest.approx(1000, rel=0.01)
    assert percentiles([]) == {}
    assert bin_width_s(600) == 1.0
    assert bin_width_s(4.0) == 0.05
    assert bin_width_s(0.3) == 0.005


def _chromium() -> str:
    for name in ("chromium-headless-shell", "chromium"):
        if shutil.which(name):
            return shutil.which(name) or name
    try:
        subprocess.run(
            "apt-get update && apt-get install -y chromium-headless-shell",
            shell=True,
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"chromium-headless-shell is not installed and apt-get install failed: {exc}")
    path = shutil.which("chromium-headless-shell")
    if not path:
        pytest.skip("apt-get installed chromium-headless-shell but the binary is not on PATH")
    return path


def _chromium_args(binary: str, profile: Path) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]


def test_report_in_headless_chromium(rendered: Path, tmp_path: Path) -> None:
    binary = _chromium()
    shot = tmp_path / "screenshot.png"
    url = rendered.resolve().as_uri()
    args = _chromium_args(binary, tmp_path / "profile")
    subprocess.run(
        [*args, f"--screenshot={shot}", "--window-size=1280,2000", url], check=True, capture_output=True, timeout=60
    )
    image = _load_png(shot)
    assert image.shape[1] == 1280
    assert float(image[..., :3].std()) > 0.05, "screenshot is blank"
    dom = subprocess.run([*args, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=60).stdout
    assert "INVALID" in dom
    assert RUN_ID in dom


if __name__ == "__main__":
    if SAMPLE_DIR.exists():
        shutil.rmtree(SAMPLE_DIR)
    write_sample_run(SAMPLE_DIR)
    print(f"wrote {SAMPLE_DIR}")


def test_a_loop_slice_is_centred_on_the_violation_and_drawn_a_lane_per_worker(tmp_path: Path) -> None:
    from harness.history.events import Op
    from harness.report.loop import SLICE_OPS, loop_slice, plot_key_loop
    from harness.report.timeline import Race

    # 4 workers looping on one key, 1,000 ops one after another per worker.
    ops = [Op(i, i % 4, "role-update", "cas" if i % 8 else "read", "k", None, 1_000_000 * i, "ok" if i % 5 == 0
              else "fail", 1_000_000 * i + 3_000_000, extra={"round": 0}) for i in range(1000)]
    loop = Race("k", 0)
    assert [op.index for op in loop_slice(ops, loop)] == list(range(SLICE_OPS))
    around = loop_slice(ops, loop, {700, 703})
    assert len(around) == SLICE_OPS and around[0].index < 700 < 703 < around[-1].index
    assert abs((700 - around[0].index) - (around[-1].index - 703)) <= 1  # centred
    assert loop_slice(ops, loop, {999})[-1].index == 999  # at the end: the slice stays whole
    assert loop_slice(ops, Race("k", 1)) == []
    path = plot_key_loop(ops, "role-update", loop, tmp_path / "loop.png", violated=True, around={700, 703})
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError):
        plot_key_loop(ops, "role-update", Race("other", 0), tmp_path / "none.png")


@pytest.mark.parametrize(("low_ms", "high_ms"), [(0.2, 0.9), (4.0, 70.0), (0.3, 3000.0)])
def test_latency_axis_labels_are_plain_numbers(monkeypatch, tmp_path, low_ms, high_ms):
    """Below two decades matplotlib labels some minor ticks of a log axis, by default as "4×10⁰" or "2e-01" beside
    a major "10": every label of the latency axis is a plain number, and a short range still gets several."""
    from harness.history.events import Op
    from harness.report import latency, style

    drawn = []
    monkeypatch.setattr(style, "save", lambda fig, path: drawn.append(fig))
    rng = random.Random(3)
    ops = [Op(i, i % 5, "w", "put", "k", None, 0, "ok", int(low_ms * (high_ms / low_ms) ** rng.random() * 1e6))
           for i in range(200)]
    latency.plot_latency(ops, "w", tmp_path / "latency.png")
    (fig,) = drawn
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for minor in (False, True) for t in ax.xaxis.get_ticklabels(minor=minor)
              if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert len(labels) >= 3, labels
    for text in labels:
        assert re.fullmatch(r"\d+(\.\d+)?", text), labels
