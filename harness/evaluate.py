"""Re-running the checkers from a run directory alone (used by `stress run` and `stress check`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from harness.checker.summary import summarize
from harness.checker.verdict import INVALID, UNKNOWN, VALID, Verdict, combine
from harness.errors import UsageError
from harness.history.clocks import shard_eps, widen_ops
from harness.history.events import Op, fault_events, ops_by_workload, pair_ops
from harness.history.rundir import load_run
from harness.nemesis.cover import missing_faults
from harness.nemesis.spec import CRASH, LATENCY, FaultSpec, parse_faults
from workloads import get_workload
from workloads.base import SUSTAINED


def evaluate(run_dir: Path) -> dict[str, Any]:
    """Check every workload of a run; returns the verdict.json object."""
    meta, events, final_state = load_run(run_dir)
    grouped = ops_by_workload(pair_ops(events))
    config = meta.get("config", {})
    requested = _requested_faults(config)
    faults_meta = meta.get("faults") or {}
    nemesis = list(fault_events(events))
    down = crash_spans(nemesis)
    eps = shard_eps(meta)
    lost = (meta.get("ray") or {}).get("lost") or []
    results = []
    for spec in config.get("workloads") or list(grouped):
        cls = get_workload(spec)  # a built-in name or the user's module:Class spec
        name = cls.name
        ops = grouped.get(name, [])
        # Ops of shards on other clocks are widened by their ε before any checker decides real-time order.
        checked = widen_ops(ops, eps) if eps else ops
        if name in final_state:
            verdict = cls.check(checked, final_state[name], config)
        else:
            verdict = cls.check(checked, {}, config)
            verdict.undecided(f"{name}: the run ended before its final state was read")
        lost_shard_unknowns(verdict, name, lost)
        if not ops:
            verdict.undecided(f"{name}: no operations recorded")
        elif not any(op.outcome in ("ok", "conditional_failed") for op in ops):
            # Nothing was applied and no condition rejected anything: the run tested no guarantee (e.g. a
            # backend without TransactWriteItems answered every op with an error).
            verdict.undecided(f"{name}: no op was applied or rejected by its condition, so nothing was tested")
        fired = (faults_meta.get("by_workload") or {}).get(name)
        if fired is None:  # a run dir written before per-workload counts: count the events in its span
            fired = _injected_during(nemesis, ops)
        extension = (meta.get("extended") or {}).get(name)
        for missing in missing_faults(requested, fired):
            verdict.undecided(f"fault {missing} was requested but never injected while {name} raced"
                              + _extension_words(extension))
        summary = summarize(name, ops, verdict, races_one_item=cls.races_one_item, down=down,
                            sustained=config.get("pattern") == SUSTAINED)
        summary["faults_injected"] = {spec.kind: fired.get(spec.kind, 0) for spec in requested}
        results.append(summary)
    backend = meta.get("backend") or {}
    injected = Counter(str(ev["value"].get("kind", "fault")) for ev in nemesis
                       if isinstance(ev.get("value"), dict) and ev["value"].get("phase") != "stop")
    if faults_meta.get("counts", {}).get(LATENCY):  # delays are counted, not recorded one event each
        injected[LATENCY] = faults_meta["counts"][LATENCY]
    return {
        "verdict": combine(r["verdict"] for r in results) if results else UNKNOWN,
        "run_dir": str(run_dir),
        "backend": {k: backend.get(k) for k in ("kind", "endpoint", "version")},
        "workloads": results,
        "faults": dict(injected),
        "faults_requested": [str(spec) for spec in requested],
        "detection": {r["name"]: r["detection"] for r in results},
        "client": meta.get("client", {}),
        "notes": [f"{name}: {report['note']}" for name, report in meta.get("client", {}).items() if report.get("note")]
        + extension_notes(meta.get("extended") or {})
        + contention_notes(results, config, meta.get("pacing"))
        + down_time_notes(results)
        + durability_notes(results)
        + shard_notes(meta, results),
    }


def _requested_faults(config: dict[str, Any]) -> list[FaultSpec]:
    try:
        return parse_faults(config.get("faults") or [])
    except ValueError as exc:
        raise UsageError(f"run.json: unreadable fault spec: {exc}") from None


def _injected_during(nemesis: list[dict[str, Any]], ops: list[Op]) -> dict[str, int]:
    """Fault events (crash starts, not their ends) that fall within the ops' time span."""
    times = [t for op in ops for t in (op.invoke_time, op.complete_time) if t is not None]
    if not times:
        return {}
    first, last = min(times), max(times)
    counted: Counter[str] = Counter()
    for ev in nemesis:
        value = ev.get("value") if isinstance(ev.get("value"), dict) else {}
        if value.get("phase") != "stop" and first <= int(value.get("time") or ev.get("time") or 0) <= last:
            counted[str(value.get("kind", "fault"))] += 1
    return dict(counted)


def crash_spans(nemesis: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(SIGKILL, restarted) monotonic-ns spans of the crash nemesis; an unfinished one runs to the end."""
    spans, start = [], None
    for ev in nemesis:
        value = ev.get("value") if isinstance(ev.get("value"), dict) else {}
        if value.get("kind") != CRASH:
            continue
        at = int(value.get("time") or ev.get("time") or 0)
        if value.get("phase") == "start":
            start = at
        elif value.get("phase") == "stop" and start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, 2**63))
    return spans


def _extension_words(extension: dict[str, Any] | None) -> str:
    if not extension:
        return ""
    return (f" (it raced {extension['extra_rounds']} rounds beyond those planned, for {extension['seconds']} s, "
            f"up to the limit of {extension['limit_s']:g} s)")


def extension_notes(extended: dict[str, dict[str, Any]]) -> list[str]:
    """Workloads that raced past their planned rounds to give a requested fault the chance to fire."""
    return [f"{name}: raced {ext['extra_rounds']} extra round(s) ({ext['seconds']} s) until "
            f"{', '.join(ext['waited_for'])} had fired" + (" — it never did" if ext.get("still_missing") else "")
            for name, ext in extended.items()]


CONTENTION_SHORTFALL = 0.5  # a race with less than half its requests in flight together is not the race asked for


def contention_notes(results: list[dict[str, Any]], config: dict[str, Any],
                     pacing: dict[str, Any] | None = None) -> list[str]:
    """Say so when far fewer requests were in flight together than a race has: the contention the user asked
    for did not reach the server."""
    notes = []
    for r in results:
        size, peak = r.get("largest_race") or 0, r.get("max_in_flight", 0)
        if size < 4 or peak >= CONTENTION_SHORTFALL * size:
            continue
        cause = _rate_words(config["rate"], pacing) if config.get("rate") else \
            "the client or its connections could not release them together"
        notes.append(f"{r['name']}: at most {peak} requests were in flight on one key, though a race had {size}: "
                     f"{cause}, so this was not a {size}-way race")
    return notes


def _rate_words(rate: float, pacing: dict[str, Any] | None) -> str:
    """How the run released requests under ``--rate`` (the engine records its slices in run.json)."""
    if not pacing:
        return f"--rate {rate:g} paced the requests"
    return f"--rate {rate:g} starts at most {pacing['per_slice']} request(s) every {pacing['slice_ms']:g} ms"


def down_time_notes(results: list[dict[str, Any]]) -> list[str]:
    """One line per workload for the ops that met a crashed server (counted apart, not blamed on it)."""
    return [f"{r['name']}: {r['during_crash']} of {r['requests']} ops were in flight while the crashed server was "
            "down or restarting (indeterminate or refused, as expected)" for r in results if r.get("during_crash")]


def durability_notes(results: list[dict[str, Any]]) -> list[str]:
    """After crash faults, say per workload how many acknowledged writes were checked against the final state."""
    notes = []
    for r in results:
        crashes = r.get("faults_injected", {}).get(CRASH, 0)
        if not crashes:
            continue
        lost = sum(1 for v in r["violations"] if v["kind"] == "acknowledged-write-lost")
        notes.append(f"{r['name']}: {r['ok']} acknowledged writes checked against the final state after "
                     f"{crashes} crash(es): {'none lost' if not lost else f'{lost} LOST'}")
    return notes


def lost_shard_unknowns(verdict: Verdict, name: str, lost: list[dict[str, Any]]) -> None:
    """A shard lost mid-run (``--executor ray``) makes every workload unknown, naming it; in the workload that
    was racing, a violation on a key whose last ops the shard never handed back is not asserted: those
    unrecorded ops (possibly applied) could explain it."""
    for shard in lost:
        keys = shard.get("keys")
        if shard.get("workload") == name:
            hidden = [v for v in verdict.violations if keys is None or v.key in keys]
            verdict.violations = [v for v in verdict.violations if v not in hidden]
            if not verdict.violations and verdict.status == INVALID:
                verdict.status = UNKNOWN if verdict.unknowns or hidden else VALID
            for v in hidden:
                verdict.undecided(f"not asserted ({v.kind} on {v.key}): shard {shard['shard']}'s unrecorded last "
                                  "ops on that key could explain it")
        where = f"while {shard.get('workload')} raced" if shard.get("workload") else "mid-run"
        verdict.undecided(f"shard {shard['shard']} was lost {where} ({shard.get('error')}): racing stopped and its "
                          "ops not yet handed back were never recorded")


def shard_notes(meta: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    """What the clocks of ``--executor ray``'s shards hide, and how tight its bursts were."""
    shards = [s for s in meta.get("shards") or () if isinstance(s, dict) and s.get("clock")]
    if not shards:
        return []
    eps = ", ".join(f"shard {s['shard']} ±{s['clock']['eps_ns'] / 1e6:.3f} ms" for s in shards)
    p50s = [r["latency_ms"]["p50"] for r in results if (r.get("latency_ms") or {}).get("p50")]
    widest = 2 * max(s["clock"]["eps_ns"] for s in shards) / 1e6
    share = f" ({widest / min(p50s):.1%} of the smallest median latency)" if p50s else ""
    notes = [f"clocks: {eps}; ops of different shards closer than the sum of their ε (up to {widest:.3f} ms"
             f"{share}) count as concurrent, so no violation depends on clock error"]
    bursts = (meta.get("ray") or {}).get("bursts") or {}
    if bursts.get("races"):
        spans = bursts.get("per_shard_span_ms") or {}
        per_shard = ", ".join(f"shard {k} p50 {v['p50']} ms" for k, v in spans.items())
        skew = (f"start skew across shards p50 {bursts['start_skew_ms']['p50']} ms, p99 "
                f"{bursts['start_skew_ms']['p99']} ms")
        # A sustained round's invokes span the whole loop: only the start of its loops is a burst.
        sustained = (meta.get("config") or {}).get("pattern") == SUSTAINED
        notes.append(f"loops: {skew}" if sustained else f"bursts: {skew}; invoke span within a shard {per_shard}")
    return notes
