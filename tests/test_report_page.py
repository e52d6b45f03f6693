"""report.html as a page: self-contained images, the configuration and its command line, the summary table."""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import asdict
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.test_report import PNG_SIGNATURE, write_sample_run


class _Page(HTMLParser):
    """Every <img src>, and the text of every cell of the summary table by column name."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag in ("td", "th"):
            self._cell = []
        if tag == "tr":
            self._row = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr":
            self.rows.append(self._row)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _summary(html: str) -> list[dict[str, str]]:
    """The rows of the summary table as {column: cell}."""
    section = html[html.index('id="summary"') :]
    section = section[: section.index("</table>")]
    rows = _parse(section).rows
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.report import render_report

    return render_report(write_sample_run(tmp_path_factory.mktemp("page") / "run"))


def test_every_image_is_embedded_png(sample: Path) -> None:
    html = sample.read_text()
    images = _parse(html).images
    assert len(images) >= 9  # 4 plots per workload's outcomes/latency/throughput/race, plus the violation's race
    for src in images:
        assert src.startswith("data:image/png;base64,"), src[:80]  # not a file name
        assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG_SIGNATURE
    assert len(set(images)) == len(images), "a plot is embedded twice"  # bool first: no 100 kB diff on failure
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in images}
    for png in sample.parent.glob("*.png"):  # the files are still written, and each is on the page
        assert png.read_bytes() in embedded, png.name
        assert f'href="{png.name}"' in html


def _options() -> Any:
    from harness.engine.options import RunOptions

    return RunOptions(workloads=["registration", "inventory"], workers=37, keys=3, rounds=4, duration=30.0,
                      rate=250.0, seed=None, retries=2, timeout=2.5, backend="moto", client="sdk",
                      faults=["lost-ack:0.05", "latency:20ms±5ms"], reports_dir=Path("/tmp/elsewhere"))


def _config(options: Any, seed: int) -> dict[str, Any]:
    """run.json's config as `stress run` writes it (engine.run.Run): the options, the seed, rounds per workload."""
    from workloads import get_workload

    rounds = {get_workload(w).name: options.rounds or get_workload(w).default_rounds for w in options.workloads}
    return {**asdict(options), "reports_dir": str(options.reports_dir), "workloads": list(options.workloads),
            "seed": seed, "rounds": rounds}


def _parse_run(args: list[str]) -> dict[str, Any]:
    """What `stress run` makes of ``args`` (parsed by its click command, nothing run)."""
    import typer.main

    from harness.cli.app import app

    assert args[:2] == ["stress", "run"]
    command = typer.main.get_command(app).commands["run"]
    return command.make_context("run", args[2:]).params


def test_reproduce_command_parses_back_to_the_run(tmp_path: Path) -> None:
    from harness.report.runconfig import reproduce_args

    options = _options()
    args = reproduce_args(_config(options, seed=424242))
    params = _parse_run(args)
    assert params["seed"] == 424242
    for name in ("workers", "keys", "rounds", "duration", "rate", "retries", "timeout", "backend", "client"):
        assert params[name] == getattr(options, name), name
    assert list(params["workload"]) == options.workloads
    assert list(params["fault"]) == options.faults
    assert "--reports-dir" not in args and "--json" not in args


def test_defaults_are_left_out_but_seed_and_backend_stated() -> None:
    from harness.engine.options import RunOptions
    from harness.report.runconfig import reproduce_args

    args = reproduce_args(_config(RunOptions(), seed=7))
    assert args == ["stress", "run", "--workers", "200", "--keys", "20", "--seed", "7", "--backend", "local"]
    assert _parse_run(args)["rounds"] is None  # each workload its own default, as in the run


def test_report_shows_config_and_command(tmp_path: Path) -> None:
    from harness.report import render_report

    run_dir = write_sample_run(tmp_path / "run", workers=8, keys=2)
    run = json.loads((run_dir / "run.json").read_text())
    run["config"] = _config(_options(), seed=99)
    run["command"] = "stress run --workers 37"  # as typed: no seed, so not what the report shows
    run["client_kind"] = "sdk"
    (run_dir / "run.json").write_text(json.dumps(run))
    html = render_report(run_dir).read_text()
    top = html[: html.index('id="summary"')]
    command = unescape(re.search(r'<pre class="cmd" id="reproduce">(.*?)</pre>', top).group(1))
    params = _parse_run(shlex.split(command))
    assert params["seed"] == 99 and params["workers"] == 37 and params["rate"] == 250.0
    config = dict(row for row in (r[i : i + 2] for r in _parse(top).rows for i in range(0, len(r), 2)))
    assert config["workers"] == "37" and config["seed"] == "99" and config["timeout"] == "2.5 s"
    assert config["faults"] == "lost-ack:0.05, latency:20ms±5ms" and config["rate"] == "250 ops/s"
    assert config["rounds"] == "registration 4, inventory 4" and config["client"] == "sdk"
    assert config["backend"].startswith("dynamodb-local · 2.5.2 · at http://127.0.0.1:8000")


def test_summary_columns_and_number_formats(sample: Path) -> None:
    rows = _summary(sample.read_text())
    assert list(rows[0])[-4:] == ["p50 ms", "p99 ms", "ops/s", "violations"]
    assert "winners/race" in rows[0] and "winners/key" not in rows[0]
    verdict = {w["name"]: w for w in json.loads((sample.parent / "verdict.json").read_text())["workloads"]}
    for row in rows:
        assert re.fullmatch(r"\d+\.\d", row["p50 ms"]) and re.fullmatch(r"\d+\.\d", row["p99 ms"])
        assert re.fullmatch(r"\d+", row["ops/s"]), row["ops/s"]
    assert rows[0]["winners/race"] == "1–2" and rows[1]["winners/race"] == "1–1"
    assert verdict["registration"]["winners_per_key"] == {"min": 1, "max": 2}
    html = sample.read_text()
    for cell in re.findall(r"<td>(\d+\.\d+)</td>", html):  # the counterexample's ms columns
        assert re.fullmatch(r"\d+\.\d", cell), cell


def _row(summary: dict[str, Any], name: str = "registration") -> dict[str, Any]:
    from harness.report.html import workload_row
    from harness.report.rundata import RunData

    data = RunData(run_dir=Path("."), run={}, verdict={"workloads": [{"name": name, **summary}]}, final_state={},
                   ops=[], faults=[], t0=0, t_end=0)
    return workload_row(data, name)


def test_winners_per_race_old_new_and_not_applicable() -> None:
    assert _row({"winners_per_key": {"min": 1, "max": 3}})["winners/race"] == "1–3"  # verdicts of older versions
    assert _row({"winners_per_race": {"min": 0, "max": 1}})["winners/race"] == "0–1"
    assert _row({"winners_per_race": None})["winners/race"] == "–"  # the summary says: not applicable
    assert _row({"winners_per_key": {"min": 9, "max": 9}}, "batch-load")["winners/race"] == "–"
    assert _row({"winners_per_race": {"min": 9, "max": 9}}, "batch-load-tx")["winners/race"] == "–"
    assert _row({"ops_per_s": 1234.56})["ops/s"] == 1234.56


def test_no_race_workloads_match_the_workloads() -> None:
    from harness.report.stats import NO_RACE_WORKLOADS
    from workloads import get_workload

    for name in ("registration", "role-update", "inventory", "unique-email", "idempotent-registration",
                 "batch-load", "batch-load-tx"):
        cls = get_workload(name)
        if hasattr(cls, "races_one_item"):
            assert (name in NO_RACE_WORKLOADS) == (not cls.races_one_item), name
