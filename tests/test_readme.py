"""README as tests: every `stress …` command the README prints runs here, as printed (issue 10).

Each command (collected by tests/readme_commands.py from the ```sh blocks and the inline code spans) is
one test, named by its text, and runs

* as a subprocess of the installed `stress` console script (``Path(sys.executable).parent / "stress"``),
* from a copy of the checkout (no .venv, .git or run directories; ``reports/example*`` kept), with the
  default reports dir, so its run directories land in ``<copy>/reports/`` as the README says,
* with a few documented size options appended (``SIZE_OPTIONS``, the only knob; see below),
* and asserts what the README promises: the exit code (0 valid, 1 invalid, 2 AWS without --yes), the
  run directory and report it writes, the JSON it prints, the files `check`/`report`/`export` read,
  compare's matrix of every workload x backend with one seed, conform's probe x backend matrix, the
  managed DynamoDB Local named and stopped, no managed server's directory left in the commands' TMPDIR.
  (Other modules used to run these same commands only to check such details; the checks moved here.)

The commands share one copy (a module fixture) and run in README order, except that the commands of
`stress local start|status|stop [--port 8000]` and the ones that need that server (``…:8000``,
``endpoint=URL``) run first, as a user would: start, status, use it, stop.

Substitutions, all in ``fill()``:

* ``8000`` (``--port 8000``, ``http://127.0.0.1:8000``) → a free port, the same for start, status, stop
  and the runs against it: port 8000 may be taken on a shared machine (or by a parallel test session),
  and `stress local` keeps its state per port, so a fixed port could stop someone else's server;
* ``endpoint=URL`` → that server's URL;
* ``reports/<run-id>`` and ``RUN_DIR`` → ``reports/<id>`` of an earlier valid run in the same copy
  (relative, typed from the checkout root); for `stress export`, of one whose every workload is judged as a
  register (``register_attribute``), since the README checks its file with `stress check-history`;
* ``my_pkg.module:MyWorkload`` → ``examples.custom_workload:CouponClaim``, the README's own instance of
  that template (so the two are one test).

AWS commands (``--backend aws``, an ``aws`` entry in ``--backends``, `stress cleanup`) never reach AWS:
they run against a moto server posing as AWS through the standard ``AWS_ENDPOINT_URL`` variable, with
fake credentials, no AWS profile files, no other ``AWS_*`` variable from the caller, and a dead HTTPS
proxy so that a harness ignoring ``AWS_ENDPOINT_URL`` fails on 127.0.0.1 instead of leaving the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from harness.backends import local_install
from harness.backends import servers as backends
from harness.backends.endpoint import Endpoint
from harness.backends.process import free_port
from harness.checker.detection import n_95
from harness.conform.probe import CONFORMS, DIFFERS, INCONCLUSIVE
from harness.conform.probes import PROBES
from tests.conftest import REPO
from tests.readme_commands import block_commands, inline_commands, readme_commands
from tests.test_aws import FAKE_ENV, SECRET

STRESS_SCRIPT = Path(sys.executable).parent / "stress"
README_TEXT = (REPO / "README.md").read_text(encoding="utf-8")
TIMEOUT_S = 300  # per command; generous on a loaded 2-core machine, never a speed assertion

# The one place where README commands are made smaller. Appended to run-like commands; the last value
# of an option wins, so these are the run's sizes. Every option here must be documented in the README
# (test_size_options_are_documented): the shrink is what a user could type, not a hidden test knob.
RUN_LIKE = ("run", "compare", "sweep")
SIZE_OPTIONS = ("--workers", "20", "--keys", "2")
# A command that prints --workers is about that contention: its worker count is kept and only the
# number of races shrinks (`stress run --workers 200`, `stress sweep --workers 1,10,50,200,1000`).
SIZE_OPTIONS_KEEPING_WORKERS = ("--keys", "1", "--rounds", "1")
# `--repeat N` is about stating a rate ("invalid in k/N runs"); two runs show that as well as ten.
SIZE_OPTIONS_REPEAT = ("--repeat", "2")
# A sustained run is sized by its keys and how long it loops (it refuses --workers: keys × per-key).
SIZE_OPTIONS_SUSTAINED = ("--keys", "2", "--duration", "1")

TEMPLATES = {"my_pkg.module:MyWorkload": "examples.custom_workload:CouponClaim"}
COMMANDS = readme_commands(README_TEXT, TEMPLATES)

MOTO_ACCOUNT = "123456789012"  # the account moto's STS answers with
VERDICT_OF_EXIT = {0: "valid", 1: "invalid", 3: "unknown"}
COPY_IGNORED_AT_ROOT = {".venv", ".git", "build", ".pytest_cache", ".ruff_cache"}


def _uses_local_server(command: str) -> bool:
    return bool(re.search(r"(^|[\s:])8000(\b|$)", command)) or "=URL" in command


def _order(command: str) -> int:
    """start, status, the commands using that server, stop, then all others in README order."""
    if command.startswith("stress local start"):
        return 0
    if command.startswith("stress local status"):
        return 1
    if command.startswith("stress local stop"):
        return 3
    return 2 if _uses_local_server(command) else 4


ORDERED = sorted(COMMANDS, key=_order)  # sorted() is stable: README order within each group


def size_options(words: list[str]) -> tuple[str, ...]:
    """The size options appended to ``words``, but those ``words`` already sets to the same value."""
    if len(words) < 2 or words[1] not in RUN_LIKE:
        return ()
    if "sustained" in words:
        sizes = SIZE_OPTIONS_SUSTAINED
    else:
        sizes = SIZE_OPTIONS_KEEPING_WORKERS if "--workers" in words else SIZE_OPTIONS
    sizes += SIZE_OPTIONS_REPEAT if "--repeat" in words else ()
    pairs = zip(sizes[::2], sizes[1::2], strict=True)
    return tuple(word for option, value in pairs if option_value(words, option) != value for word in (option, value))


def option_value(words: list[str], option: str) -> str | None:
    values = [words[i + 1] for i, word in enumerate(words[:-1]) if word == option]
    return values[-1] if values else None


def backends_of(words: list[str]) -> list[str]:
    if words[1] == "compare":
        return [part.split("=")[0] for part in (option_value(words, "--backends") or "").split(",")]
    if words[1] in RUN_LIKE:
        return [option_value(words, "--backend") or ("endpoint" if "--endpoint-url" in words else "local")]
    return []


def is_aws(words: list[str]) -> bool:
    return words[1] == "cleanup" or "aws" in backends_of(words)


def expected_exit(words: list[str]) -> set[int]:
    """The exit codes the README promises for this command."""
    if "--unsafe" in words:
        return {1}  # "negative control: must be INVALID"
    if "aws" in backends_of(words) and "--yes" not in words:
        return {2}  # "Without --yes a non-interactive run exits 2 having sent nothing but that STS call"
    if words[1] == "conform":
        return {1}  # "its matrix shows the TransactionConflict difference for DynamoDB Local": exit 1, differs
    if {"moto", "aws"} & set(backends_of(words)):
        return {0, 1}  # moto (also when posing as AWS) is not concurrency-safe: "invalid in k/10 runs"
    return {0}


@dataclass(repr=False)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    new: list[Path] = field(default_factory=list)  # entries added to <copy>/reports by the command
    workdirs_before: set[str] = field(default_factory=set)  # managed servers' working directories in TMPDIR
    workdirs_after: set[str] = field(default_factory=set)

    def __repr__(self) -> str:  # pytest prints it under a failed assert: describe() already said it all
        return f"Result({' '.join(self.argv)!r}, exit code {self.returncode})"

    def describe(self) -> str:
        return (f"ran: {' '.join(self.argv)}\nexit code {self.returncode}\n"
                f"stdout (tail):\n{self.stdout[-3000:]}\nstderr (tail):\n{self.stderr[-3000:]}")


class Checkout:
    """A copy of the checkout in which the README's commands run, and what they left there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.reports = root / "reports"
        self.tmpdir = root.parent / "tmpdir"  # the commands' TMPDIR: what a managed server leaves there is seen
        self.tmpdir.mkdir(exist_ok=True)
        self.port = free_port()
        self.moto: backends.MotoServer | None = None
        self.moto_endpoint: Endpoint | None = None
        self.valid_runs: list[Path] = []
        self.results: dict[tuple[str, ...], Result] = {}  # by the argv run (see run_command)

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def aws_env(self) -> dict[str, str]:
        """A moto server posing as AWS (started on first use), fake credentials, no way out to AWS."""
        if self.moto_endpoint is None:
            self.moto = backends.MotoServer()
            self.moto_endpoint = self.moto.start()
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AWS_")}
        dead_proxy = "http://127.0.0.1:9"  # discard port: nothing listens
        env.update(FAKE_ENV, AWS_ENDPOINT_URL=self.moto_endpoint.url,
                   AWS_CONFIG_FILE=str(self.root.parent / "no-aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.root.parent / "no-aws-credentials"),
                   HTTPS_PROXY=dead_proxy, https_proxy=dead_proxy,
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env

    def moto_tables(self, region: str) -> list[str]:
        assert self.moto_endpoint is not None
        client = boto3.client("dynamodb", endpoint_url=self.moto_endpoint.url, region_name=region,
                              aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=SECRET)
        return client.list_tables()["TableNames"]

    def prior_run_dir(self, registers_only: bool = False) -> str:
        """``reports/<id>`` of the newest valid run here (``registers_only``: of register workloads alone, see the
        module docstring); made by the README's `stress run --json` if none."""
        def fitting() -> list[Path]:
            return [p for p in self.valid_runs if not registers_only or _register_workloads_only(p)]

        if not fitting():
            result = run_command(self, "stress run --json")
            check_result(self, "stress run --json", result)
        assert fitting(), "no valid run to fill reports/<run-id> with"
        return str(fitting()[-1].relative_to(self.root))

    def fill(self, command: str) -> list[str]:
        """The command's words with every placeholder filled in (see the module docstring)."""
        words = []
        for i, word in enumerate(command.split()):
            if word in ("reports/<run-id>", "RUN_DIR"):
                word = self.prior_run_dir(registers_only=command.startswith("stress export"))
            elif word == "8000" and i and command.split()[i - 1] == "--port":
                word = str(self.port)
            word = word.replace("http://127.0.0.1:8000", self.local_url)
            word = re.sub(r"(?<=endpoint=)URL\b", self.local_url, word)
            words.append(word)
        leftover = [w for w in words if re.search(r"<[^>]*>|\bRUN_DIR\b|=URL\b", w)]
        leftover += re.findall(r"<[^>]*\s[^>]*>", " ".join(words))  # one of several words: `<run dir>`
        assert not leftover, f"unfilled placeholder in {command!r}: {leftover}"
        return words

    def workdirs(self) -> set[str]:
        """The managed servers' working directories (``ddbstress-local-…``, ``-moto-``, ``-dynalite-``) in TMPDIR."""
        return {p.name for p in self.tmpdir.glob("ddbstress-*")}

    def stop_local(self) -> None:
        state = local_install.cache_dir().parent / f"running-{self.port}.json"
        if state.exists():
            subprocess.run([str(STRESS_SCRIPT), "local", "stop", "--port", str(self.port)], cwd=self.root,
                           capture_output=True, timeout=60)


def copy_checkout(dst: Path) -> Path:
    """The checkout's files without .venv, .git, caches and run directories (reports/example* kept)."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        drop = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if here == REPO:
            drop |= COPY_IGNORED_AT_ROOT & set(names)
        if here == REPO / "reports":
            drop |= {n for n in names if not (n.startswith("example") or n == ".gitkeep")}
        return drop

    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    return dst


def run_command(checkout: Checkout, command: str) -> Result:
    """Run one README command in the copy: placeholders filled, size options appended."""
    assert STRESS_SCRIPT.exists(), f"{STRESS_SCRIPT} missing: install the package (pip install -e .)"
    words = checkout.fill(command)
    argv = [*words, *size_options(words)]
    if tuple(argv) in checkout.results:
        # Two README commands the size options make one (`stress sweep --workers 1,10,50,200,1000` and the same
        # with `--keys 1 --rounds 1`): the second run would be the first again (13 s), so its outcome is checked.
        return checkout.results[tuple(argv)]
    env = {**(checkout.aws_env() if is_aws(words) else os.environ), "TMPDIR": str(checkout.tmpdir)}
    before = set(checkout.reports.iterdir())
    workdirs_before = checkout.workdirs()
    try:
        proc = subprocess.run([str(STRESS_SCRIPT), *argv[1:]], cwd=checkout.root, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(argv)} did not finish in {TIMEOUT_S} s\nstderr: {exc.stderr!r}")
    new = sorted(set(checkout.reports.iterdir()) - before)
    result = Result(argv, proc.returncode, proc.stdout, proc.stderr, new, workdirs_before, checkout.workdirs())
    checkout.results[tuple(argv)] = result
    return result


def check_result(checkout: Checkout, command: str, result: Result) -> None:
    """Everything the README promises about this command's outcome (AssertionError naming it otherwise)."""
    words = result.argv
    why = f"README command `{command}`:\n{result.describe()}"
    expected = expected_exit(words)
    assert result.returncode in expected, f"exit code {result.returncode}, README promises {sorted(expected)}\n{why}"
    assert "Traceback" not in result.stderr, why
    if is_aws(words):
        for marker in (SECRET, FAKE_ENV["AWS_SESSION_TOKEN"]):
            assert marker not in result.stdout + result.stderr, f"credentials leaked\n{why}"
    started, removed = result.workdirs_after - result.workdirs_before, result.workdirs_before - result.workdirs_after
    if words[1:3] == ["local", "start"]:  # the running JVM's own directory, until `stress local stop`
        assert len(started) == 1 and next(iter(started)).startswith("ddbstress-local-"), f"{started}\n{why}"
    else:  # every managed server a command starts is stopped with its working directory
        assert not started, f"left behind in TMPDIR: {sorted(started)}\n{why}"
    if words[1:3] == ["local", "stop"]:
        assert len(removed) == 1 and next(iter(removed)).startswith("ddbstress-local-"), f"{removed}\n{why}"
    runs = [p for p in result.new if (p / "run.json").exists()]
    series = [p for p in result.new if p.name.startswith(("compare-", "sweep-"))]
    sub = words[1]

    if expected == {2}:  # AWS without --yes: the plan, then nothing
        assert "refusing to send requests to AWS without --yes" in result.stderr, why
        assert f"AWS account {MOTO_ACCOUNT}, region" in result.stderr, f"plan not from the moto posing as AWS\n{why}"
        assert "estimated cost: $" in result.stderr, why
        aws_runs = [p for p in runs if json.loads((p / "run.json").read_text())["backend"]["kind"] == "aws"]
        assert not any((p / "history.jsonl").exists() for p in aws_runs), why
        region = option_value(words, "--region") or FAKE_ENV["AWS_DEFAULT_REGION"]
        assert not [t for t in checkout.moto_tables(region) if t.startswith("ddbstress-")], why
        return

    if sub == "run":
        repeat = int(option_value(words, "--repeat") or 1)
        assert len(runs) == repeat, f"expected {repeat} run directories in <copy>/reports, got {result.new}\n{why}"
        for run_dir in runs:
            for name in ("run.json", "history.jsonl", "final_state.json", "verdict.json", "report.html"):
                assert (run_dir / name).exists(), f"{run_dir.name}/{name} missing\n{why}"
        verdicts = [json.loads((p / "verdict.json").read_text())["verdict"] for p in runs]
        if backends_of(words) == ["local"]:  # the default: a DynamoDB Local the run starts, names and stops
            for run_dir in runs:
                check_managed_local(words, run_dir, why)
        if repeat > 1:
            assert re.search(rf"invalid in {verdicts.count('invalid')}/{repeat} runs", result.stdout), why
            # What all the runs together could have caught: the sum of their windows, per workload.
            per_run = [json.loads((p / "verdict.json").read_text())["detection"] for p in runs]
            for name in per_run[0]:
                windows = sum(d[name]["windows"] for d in per_run)
                line = f"  {name}, all {repeat} runs together: {windows} contention windows"
                assert line in result.stdout, f"{line!r} missing\n{why}"
                assert f"N ≤ {n_95(windows)}" in result.stdout.split(line, 1)[1].splitlines()[0], why
        else:
            assert verdicts[0] == VERDICT_OF_EXIT[result.returncode], why
        if "--json" in words:
            summary = json.loads(result.stdout)  # only the verdict JSON on stdout
            assert (checkout.root / summary["run_dir"]).resolve() == runs[0].resolve(), why
            assert summary["verdict"] == verdicts[0], why
        elif repeat == 1:
            rel = runs[0].relative_to(checkout.root)
            assert f"run dir: {rel}" in result.stdout and f"report: {rel}/report.html" in result.stdout, why
        if "aws" in backends_of(words):
            region = option_value(words, "--region") or FAKE_ENV["AWS_DEFAULT_REGION"]
            assert not [t for t in checkout.moto_tables(region) if runs[0].name in t], f"tables left\n{why}"
            # the plan names the account the credentials belong to; run.json records where requests really went
            assert f"AWS account {MOTO_ACCOUNT}, region {region}" in result.stderr, why
            backend = json.loads((runs[0] / "run.json").read_text())["backend"]
            assert backend["kind"] == "aws" and backend["endpoint"] == checkout.moto_endpoint.url, f"{backend}\n{why}"
        if "--endpoint-url" in words and option_value(words, "--endpoint-url") == checkout.local_url:
            # a server of `stress local start`: the run is told what it is (not "version unknown")
            assert "unknown" not in result.stdout + result.stderr, why
            assert "on DynamoDB Local 3." in result.stderr and f"at {checkout.local_url}" in result.stderr, why
            assert "backend: endpoint DynamoDB Local 3." in result.stdout, why
        if "sustained" in words:
            for run_dir in runs:
                check_sustained(words, run_dir, why)
        checkout.valid_runs += [p for p, v in zip(runs, verdicts, strict=True) if v == "valid"]
    elif sub in ("compare", "sweep"):
        assert len(series) == 1 and series[0].name.startswith(f"{sub}-"), f"no reports/{sub}-<id>/\n{why}"
        assert (series[0] / "summary.json").exists() and (series[0] / "report.html").exists(), why
        assert f"{sub} report: {series[0].relative_to(checkout.root)}/report.html" in result.stdout, why
        count = (len(option_value(words, "--backends").split(",")) if sub == "compare"
                 else len(option_value(words, "--workers").split(",")))
        assert len(runs) == count, f"expected {count} run directories, got {result.new}\n{why}"
        summary = json.loads((series[0] / "summary.json").read_text())
        assert_series_page(series[0] / "report.html", why)
        check_weak_cells(checkout.root, summary, result.stdout, series[0] / "report.html", why)
        if sub == "compare":
            check_compare(words, series[0], summary, why)
    elif sub == "check":
        assert "verdict: VALID" in result.stdout, why
    elif sub == "report":
        assert f"report: {words[2]}/report.html" in result.stdout, why
        assert (checkout.root / words[2] / "report.html").exists(), why
    elif sub == "export":
        fmt = option_value(words, "--format")
        output = option_value(words, "--output")
        text = (checkout.root / output).read_text() if output else result.stdout
        if fmt == "jepsen-json":
            ops = json.loads(text)
            assert ops and set(ops[0]) >= {"index", "type", "process", "f", "value", "time"}, why
        else:
            lines = [line for line in text.splitlines() if line.strip()]
            assert lines and all(line.lstrip("[ ").startswith("{:index") for line in lines), why
    elif sub == "check-history":
        files = [w for w in words[2:] if w.endswith((".edn", ".json"))]
        assert files, why
        assert all(f"{f}: VALID (" in result.stdout for f in files), why  # every README example is linearizable
    elif sub == "local":
        action = words[2]
        marker = {"start": "running (pid", "status": "running: ", "stop": "stopped pid",
                  "install": "DynamoDB Local jar:"}[action]
        assert marker in result.stdout, why
        if action == "start":
            assert f"endpoint: {checkout.local_url}" in result.stdout, why
            assert f"run against it: stress run --endpoint-url {checkout.local_url}" in result.stdout, why
        if action == "status":
            assert f"endpoint {checkout.local_url}" in result.stdout, why
            assert "running: DynamoDB Local 3." in result.stdout, why
        if action == "stop":  # it ends the server: status says so afterwards (one more command, not a README one)
            after = subprocess.run([str(STRESS_SCRIPT), "local", "status", "--port", str(checkout.port)],
                                   cwd=checkout.root, capture_output=True, text=True, timeout=60)
            assert after.returncode == 1 and "not running" in after.stdout, f"status after stop: {after}\n{why}"
    elif sub == "cleanup":
        assert result.stdout.strip(), why
    elif sub == "conform":
        pages = [p for p in result.new if p.name.startswith("conform-")]
        assert len(pages) == 1 and (pages[0] / "conform.html").exists(), f"no reports/conform-<id>/\n{why}"
        assert "transaction-conflict" in result.stdout and "DIFFERS" in result.stdout, why
        check_conform(words, pages[0], why)


def _register_workloads_only(run_dir: Path) -> bool:
    """Whether every workload of the run is judged as a register (its `stress export` is checked as one)."""
    from workloads import get_workload

    specs = json.loads((run_dir / "run.json").read_text())["config"]["workloads"]
    return all(get_workload(spec).register_attribute is not None for spec in specs)


def runs_dynamodb_local(pid: int) -> bool:
    """True while ``pid`` is a live DynamoDB Local (a recycled pid is not mistaken for it)."""
    try:
        return b"DynamoDBLocal" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def check_managed_local(words: list[str], run_dir: Path, why: str) -> None:
    """The run names the DynamoDB Local it started (kind and version) and it is gone once the run ends; at
    `--workers 200` the contention is real: at least 150 requests in flight at once in every workload."""
    backend = json.loads((run_dir / "run.json").read_text())["backend"]
    assert backend["kind"] == "local" and backend["version"].startswith("DynamoDB Local 3."), f"{backend}\n{why}"
    assert not runs_dynamodb_local(backend["pid"]), f"DynamoDB Local pid {backend['pid']} outlived the run\n{why}"
    if option_value(words, "--workers") == "200":
        for w in json.loads((run_dir / "verdict.json").read_text())["workloads"]:
            assert w["max_in_flight"] >= 150, f"{w['name']}: max in flight {w['max_in_flight']}\n{why}"


def check_sustained(words: list[str], run_dir: Path, why: str) -> None:
    """A sustained run loops keys x per-key workers and says what it could catch: a detection block per workload,
    more contention windows than a burst over the same keys would give (one per key), no burst statistics; its
    report draws a loop timeline (a lane per worker), never a race timeline."""
    config = json.loads((run_dir / "run.json").read_text())["config"]
    keys, per_key = int(option_value(words, "--keys")), config["per_key"]
    assert config["pattern"] == "sustained" and config["workers"] == keys * per_key, f"{config}\n{why}"
    if option_value(words, "--per-key"):
        assert per_key == int(option_value(words, "--per-key")), why
    verdict = json.loads((run_dir / "verdict.json").read_text())
    for w in verdict["workloads"]:
        block = w["detection"]
        assert verdict["detection"][w["name"]] == block, why
        assert block["windows"] >= 3 * keys and block["n_95"] == n_95(block["windows"]), f"{block}\n{why}"
        assert block["max_in_flight"] <= per_key and block["pattern"] == "sustained", f"{block}\n{why}"
        assert w["winners_per_race"] is None and w["largest_race"] is None, why
    html = (run_dir / "report.html").read_text()
    assert "Detection power" in html and "Loop timeline" in html and "Race timeline" not in html, why
    assert "How to read the loop timeline" in html and "How to read the race timeline" not in html, why
    weak = [w["name"] for w in verdict["workloads"] if w["detection"]["weak"]]
    assert ("weak: too few contention windows" in html) == (verdict["verdict"] == "valid" and bool(weak)), why
    # A weak block tells a sustained run to loop longer, never to use the pattern it already has.
    assert ("(try a longer --duration)" in html) == bool(weak) and "try --pattern sustained" not in html, why


def assert_series_page(report: Path, why: str) -> None:
    """A compare/sweep page refers to nothing outside its directory tree, and everything it refers to exists."""
    for ref in re.findall(r'(?:src|href)="([^"]+)"', report.read_text()):
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.I), f"non-local reference {ref}\n{why}"
        assert (report.parent / ref).exists(), f"{ref} missing\n{why}"


def assert_png(path: Path, why: str) -> None:
    data = path.read_bytes() if path.exists() else b""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{path.name}: not a drawn PNG\n{why}"


def check_weak_cells(root: Path, summary: dict, stdout: str, page: Path, why: str) -> None:
    """A VALID cell of a compare/sweep matrix from too few contention windows says so, as `stress run` does: in
    summary.json (as its run's own detection block says), on the terminal line and in the page."""
    weak_cells = 0
    for workload, cells in summary["matrix"].items():
        line = next(ln for ln in stdout.splitlines() if ln.startswith(f"{workload}: "))
        for label, cell in cells.items():
            run = next(r for r in summary["runs"] if r["label"] == label)
            (w,) = [w for w in json.loads((root / run["run_dir"] / "verdict.json").read_text())["workloads"]
                    if w["name"] == workload]
            weak = w["verdict"] == "valid" and w["detection"]["weak"]
            assert cell["weak"] is weak and cell["windows"] == w["detection"]["windows"], f"{cell} {w}\n{why}"
            assert (f"{label}: VALID (weak)" in line) is weak, f"{line}\n{why}"
            weak_cells += weak
    assert page.read_text().count("<small>weak: ") == weak_cells, why


def check_compare(words: list[str], out: Path, summary: dict, why: str) -> None:
    """"same workloads and seed on each backend, side by side": a conformance matrix of every workload x backend,
    the latency and throughput plots, one seed for every run; DynamoDB Local (concurrency-safe) is valid."""
    labels = backends_of(words)
    assert [r["label"] for r in summary["runs"]] == labels, why
    assert set(summary["matrix"]) == {"registration", "role-update"}, why  # the default workloads
    for workload, cells in summary["matrix"].items():
        assert list(cells) == labels, why
        assert cells["local"]["verdict"] == "valid", f"{workload} on local: {cells['local']}\n{why}"
        assert_png(out / f"latency-{workload}.png", why)
    assert_png(out / "throughput.png", why)
    root = out.parent.parent  # run dirs are relative to the checkout the command ran in
    seeds = {json.loads((root / r["run_dir"] / "run.json").read_text())["config"]["seed"] for r in summary["runs"]}
    assert len(seeds) == 1, f"seeds {seeds}\n{why}"


def check_conform(words: list[str], out: Path, why: str) -> None:
    """conform.json: every probe x every backend, each cell a status with its detail; on DynamoDB Local 3.3.1 (the
    pinned jar) every probe conforms but transaction-conflict, the one its own docs say it differs on (the table
    the README prints); conform.html has a section per probe."""
    data = json.loads((out / "conform.json").read_text())
    names = [p.name for p in PROBES]
    assert list(data["matrix"]) == names, why
    for name in names:
        assert list(data["matrix"][name]) == option_value(words, "--backends").split(","), why
        for cell in data["matrix"][name].values():
            assert cell["status"] in (CONFORMS, DIFFERS, INCONCLUSIVE) and cell["detail"], f"{name}: {cell}\n{why}"
    local = {name: data["matrix"][name]["local"]["status"] for name in names}
    assert local == {**dict.fromkeys(names, CONFORMS), "transaction-conflict": DIFFERS}, f"{local}\n{why}"
    assert data["status"] == DIFFERS, why
    html = (out / "conform.html").read_text()
    assert all(f'id="probe-{name}"' in html for name in names), why


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """One copy of the checkout for all README commands; stops what they may have left running."""
    c = Checkout(copy_checkout(tmp_path_factory.mktemp("readme") / "checkout"))
    try:
        yield c
    finally:
        c.stop_local()
        if c.moto:
            c.moto.stop()


@pytest.mark.slow
@pytest.mark.parametrize("command", ORDERED, ids=ORDERED)
def test_readme_command(checkout, command):
    check_result(checkout, command, run_command(checkout, command))


def test_readme_has_commands():
    """A parser that finds nothing would make test_readme_command vanish instead of fail."""
    assert block_commands(README_TEXT) and inline_commands(README_TEXT)
    assert "stress run --workers 200" in COMMANDS  # what `make run` runs
    assert len(ORDERED) == len(set(ORDERED))


def test_size_options_are_documented():
    """Each option the test appends is a documented user option of the README and of the command."""
    options = set(SIZE_OPTIONS[::2]) | set(SIZE_OPTIONS_KEEPING_WORKERS[::2]) | set(SIZE_OPTIONS_REPEAT[::2]) \
        | set(SIZE_OPTIONS_SUSTAINED[::2])
    for option in sorted(options):
        assert f"`{option}`" in README_TEXT, f"{option} is appended to README commands but not documented"
    for sub in RUN_LIKE:
        help_text = subprocess.run([str(STRESS_SCRIPT), sub, "--help"], capture_output=True, text=True,
                                   timeout=60, env={**os.environ, "COLUMNS": "200"}).stdout
        for option in sorted(options - ({"--repeat"} if sub != "run" else set())):  # only run has --repeat
            assert option in help_text, f"`stress {sub}` has no {option}"


def test_parser_expands_the_readme_notation():
    text = "\n".join([
        "Run `stress run --json` or `stress check`; `.venv/bin/stress run --workers 200`, `stress export",
        "RUN_DIR --format jepsen-json|edn`.",
        "```sh",
        "stress run --workers 200     # a comment",
        "stress local start|stop [--port 8000]",
        "stress check reports/<run-id>",
        "make run",
        "```",
        "```",
        "stress run --not-a-command   (output, not a sh block)",
        "```",
        "`stress compare --backends local[,aws]` and `my_tool stress run`",
    ])
    assert readme_commands(text) == [
        "stress run --workers 200", "stress local start --port 8000", "stress local stop --port 8000",
        "stress check reports/<run-id>", "stress run --json", "stress export RUN_DIR --format jepsen-json",
        "stress export RUN_DIR --format edn", "stress compare --backends local,aws",
    ]


def test_a_broken_readme_command_fails_its_test(checkout):
    """The machinery can fail: a README with a typo in an option gives a failing test (exit 2)."""
    (command,) = readme_commands("```sh\nstress run --wrkers 5      # typo\n```\n")
    assert command == "stress run --wrkers 5"
    result = run_command(checkout, command)
    assert result.returncode == 2 and "--wrkers" in result.stderr, result.describe()
    with pytest.raises(AssertionError, match="exit code 2, README promises"):
        check_result(checkout, command, result)
