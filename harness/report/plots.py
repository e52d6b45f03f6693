"""Draw every plot of one workload into the run directory and describe them for the HTML."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.report import style
from harness.report.faults import FaultSpan
from harness.report.latency import plot_latency
from harness.report.outcomes import plot_outcomes_per_key
from harness.report.rundata import RunData
from harness.report.throughput import plot_throughput
from harness.report.timeline import most_contended_key, plot_race_timeline


@dataclass
class PlotRef:
    """A PNG written next to report.html."""

    kind: str  # outcomes | latency | throughput | race
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


def race_keys(data: RunData, workload: str) -> list[str]:
    """The most contended key, then every key named in a violation (that has ops)."""
    ops = data.workload_ops(workload)
    present = {op.key for op in ops}
    keys = [k for k in violation_keys(data, workload) if k in present]
    busiest = most_contended_key(ops)
    if busiest is not None and busiest not in keys:
        keys.insert(0, busiest)
    return keys


def race_filename(workload: str, key: str) -> str:
    """File name of the race timeline of ``key`` (a short hash keeps altered names distinct)."""
    name = style.slug(key)
    if name != key:
        name += "-" + hashlib.sha1(key.encode()).hexdigest()[:6]
    return f"{style.slug(workload)}-race-{name}.png"


def render_workload_plots(data: RunData, workload: str, faults: list[FaultSpan]) -> list[PlotRef]:
    """Write the outcomes, latency, throughput and race-timeline PNGs of ``workload``."""
    ops = data.workload_ops(workload)
    if not ops:
        return []
    out = data.run_dir
    base = style.slug(workload)
    marked = set(violation_keys(data, workload))
    refs = [
        PlotRef("outcomes", workload, f"{base}-outcomes.png", "Outcomes per key"),
        PlotRef("latency", workload, f"{base}-latency.png", "Latency by outcome"),
        PlotRef("throughput", workload, f"{base}-throughput.png", "Throughput and requests in flight"),
    ]
    plot_outcomes_per_key(ops, workload, marked, out / refs[0].filename)
    plot_latency(ops, workload, out / refs[1].filename)
    plot_throughput(ops, workload, data.t0, data.t_end, faults, out / refs[2].filename)
    for key in race_keys(data, workload):
        ref = PlotRef("race", workload, race_filename(workload, key), f"Race timeline: {key}", key)
        plot_race_timeline(ops, workload, key, out / ref.filename, violated=key in marked)
        refs.append(ref)
    return refs
