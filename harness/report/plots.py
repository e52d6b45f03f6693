"""Draw every plot of one workload into the run directory and describe them for the HTML."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from harness.history.events import Op
from harness.report import style
from harness.report.faults import FaultSpan
from harness.report.latency import plot_latency
from harness.report.loop import plot_key_loop
from harness.report.outcomes import plot_outcomes_per_key
from harness.report.rundata import RunData
from harness.report.stats import has_races
from harness.report.throughput import plot_throughput
from harness.report.timeline import Race, most_contended_race, plot_race_timeline

Job = Callable[[], Any]


@dataclass
class PlotRef:
    """A PNG written next to report.html."""

    kind: str  # outcomes | latency | throughput | race | loop (a sustained round's race)
    workload: str
    filename: str
    title: str
    key: str | None = None


def violation_keys(data: RunData, workload: str) -> list[str]:
    """Keys named in this workload's violations, first-seen order."""
    keys: list[str] = []
    for violation in data.workload_summary(workload).get("violations", []) or []:
        key = violation.get("key")
        if isinstance(key, str) and key and key not in keys:
            keys.append(key)
    return keys


def _op_lookup(ops: list[Op]) -> dict[int, Op]:
    """Ops by invoke index and by completion index."""
    lookup: dict[int, Op] = {}
    for op in ops:
        lookup[op.index] = op
        if op.complete_index is not None:
            lookup.setdefault(op.complete_index, op)
    return lookup


def violation_race(ops: list[Op], violation: dict[str, Any]) -> Race | None:
    """The race a violation is about: the round its ops share, else every round of its key."""
    key = violation.get("key")
    if not isinstance(key, str) or not any(op.key == key for op in ops):
        return None
    lookup = _op_lookup(ops)
    named = [lookup[i] for i in violation.get("ops", []) or [] if isinstance(i, int) and i in lookup]
    rounds = {repr(op.extra.get("round")): op.extra.get("round") for op in named if op.key == key}
    if len(rounds) == 1:
        return Race(key, next(iter(rounds.values())))
    key_rounds = {repr(op.extra.get("round")): op.extra.get("round") for op in ops if op.key == key}
    if len(key_rounds) == 1:
        return Race(key, next(iter(key_rounds.values())))
    return Race(key, all_rounds=True)


def races_to_plot(data: RunData, workload: str) -> dict[Race, set[int]]:
    """The most contended race, then the race of every violation (each once), with the op indices its
    first violation names (empty for the busiest race unless a violation is about it)."""
    ops = data.workload_ops(workload)
    races: dict[Race, set[int]] = {}
    busiest = most_contended_race(ops)
    if busiest is not None:
        races[busiest] = set()
    for violation in data.workload_summary(workload).get("violations", []) or []:
        race = violation_race(ops, violation)
        if race is not None and not races.get(race):
            races[race] = {i for i in violation.get("ops", []) or [] if isinstance(i, int)}
    return races


def is_sustained(data: RunData) -> bool:
    """Whether the run looped (``--pattern sustained``): its rounds are loops, not races."""
    return (data.run.get("config") or {}).get("pattern") == "sustained"


def race_filename(workload: str, race: Race) -> str:
    """File name of a race timeline (a short hash keeps keys with altered names distinct)."""
    name = style.slug(race.key)
    if name != race.key:
        name += "-" + hashlib.sha1(race.key.encode()).hexdigest()[:6]
    if race.all_rounds:
        name += "-all-rounds"
    elif race.round is not None:
        name += f"-r{style.slug(str(race.round))}"
    return f"{style.slug(workload)}-race-{name}.png"


def workload_plot_jobs(data: RunData, workload: str, faults: list[FaultSpan]) -> list[tuple[PlotRef, Job]]:
    """The outcomes, latency, throughput and race-timeline PNGs of ``workload``: what each is, and the
    call that draws it (each independent of the others, so they can be drawn in parallel)."""
    ops = data.workload_ops(workload)
    if not ops:
        return []
    out = data.run_dir
    base = style.slug(workload)
    marked = set(violation_keys(data, workload))
    outcomes = PlotRef("outcomes", workload, f"{base}-outcomes.png", "Outcomes per key")
    latency = PlotRef("latency", workload, f"{base}-latency.png", "Latency by outcome")
    throughput = PlotRef("throughput", workload, f"{base}-throughput.png", "Throughput and requests in flight")
    jobs: list[tuple[PlotRef, Job]] = [
        (outcomes, partial(plot_outcomes_per_key, ops, workload, marked, out / outcomes.filename,
                           races=has_races(workload, data.workload_summary(workload)))),
        (latency, partial(plot_latency, ops, workload, out / latency.filename)),
        (throughput, partial(plot_throughput, ops, workload, data.t0, data.t_end, faults, out / throughput.filename)),
    ]
    for race, named in races_to_plot(data, workload).items():
        if is_sustained(data):
            ref = PlotRef("loop", workload, race_filename(workload, race), f"Loop timeline: {race.label}", race.key)
            draw = partial(plot_key_loop, ops, workload, race, out / ref.filename, violated=race.key in marked,
                           faults=faults, around=named)
        else:
            ref = PlotRef("race", workload, race_filename(workload, race), f"Race timeline: {race.label}", race.key)
            draw = partial(plot_race_timeline, ops, workload, race, out / ref.filename, violated=race.key in marked,
                           faults=faults)
        jobs.append((ref, draw))
    return jobs


_JOBS: list[Job] = []  # handed to forked children by inheritance, not pickled (histories can be large)


def _run_job(index: int) -> None:
    _JOBS[index]()


def draw_all(jobs: list[Job]) -> None:
    """Draw every plot: spread over forked processes when there are several cores (matplotlib draws on
    one core, and a report has 8 or more figures), else one after the other."""
    processes = min(len(jobs), os.cpu_count() or 1)
    if processes < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            job()
        return
    global _JOBS
    _JOBS = jobs
    try:
        # An executor, not multiprocessing.Pool: a child that dies raises BrokenProcessPool instead of hanging.
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
            list(pool.map(_run_job, range(len(jobs))))
    finally:
        _JOBS = []
