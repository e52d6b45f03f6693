"""`stress check-history`: Jepsen/Knossos histories read from EDN and JSON, judged by the linearizability checker,
against a brute-force reference on generated etcd-style histories (tests/jepsen_histories.py)."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checker.linearizability import Call, check_linearizable, get_model, partition
from harness.checker.linearizability import check as checking
from harness.checker.linearizability import shrink as shrinking
from harness.checker.linearizability.model import FrozenDict
from harness.checker.linearizability.search import Budget, Outcome, search, search_reusable
from harness.checker.linearizability.shrink import _overused_kinds, _relaxed, _Shrinker
from harness.checker.verdict import UNKNOWN
from harness.history.events import HistoryError
from harness.history.jepsen import parse_history
from tests.conftest import REPO, run_stress
from tests.jepsen_histories import brute_force, etcd_history, lock_history, to_edn, to_json, txn_history
from tests.test_no_sdk import no_sdk  # noqa: F401 - the fixture

LINE = re.compile(r"^(?P<file>\S+): (?P<verdict>VALID|INVALID|UNKNOWN) \((?P<ops>\d+) ops, (?P<keys>\d+) keys?, "
                  r"(?P<ms>[\d.]+) ms\)$")


def verdicts(stdout: str) -> dict[str, str]:
    """File name -> verdict, from the verdict lines of `stress check-history`."""
    return {m["file"]: m["verdict"].lower() for m in map(LINE.match, stdout.splitlines()) if m}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def relaxed(events: list[dict], indices: set[int]) -> list[dict]:
    """``events`` with the ops whose invoke has one of ``indices`` made indeterminate (:info completion). A
    failed op stays failed: it did not happen, and the checker leaves it out before relaxing anything. A txn
    relaxed keeps what its reads saw (its invoke is given its completion's value), as the checker relaxes it."""
    invoked: dict = {}
    out = []
    for e in events:
        e = dict(e)
        if e["type"] == "invoke":
            invoked[e["process"]] = len(out)
        else:
            at = invoked.pop(e["process"])
            if out[at]["index"] in indices and e["type"] != "fail":
                if e["type"] == "ok" and e["f"] == "txn":
                    out[at] = {**out[at], "value": e["value"]}
                e["type"] = "info"
        out.append(e)
    return out


# ------------------------------------------------------------------------------------ generated histories


def test_generated_histories_agree_with_brute_force(tmp_path):
    """100 etcd-style histories (5 processes, values 0-4, ~10% timeouts), half with a seeded anomaly, in every
    form the command reads, checked in one call: every verdict is the brute force's."""
    rng = random.Random(20260611)
    expected, files = {}, []
    for n in range(100):
        keys = 1 + (n % 4 == 3)
        events = etcd_history(rng, rng.randrange(4, 12), keys=keys, corrupt=n % 2 == 1)
        form = ("lines", "vector", "list", "json")[n % 4]
        text = to_json(events) if form == "json" else to_edn(events, form)
        path = write(tmp_path, f"h{n:03d}.{'json' if form == 'json' else 'edn'}", text)
        files.append(str(path))
        expected[str(path)] = brute_force(events)
    proc = run_stress("check-history", *files, cwd=tmp_path)
    got = verdicts(proc.stdout)
    assert got == expected, proc.stdout[-3000:] + proc.stderr[-2000:]
    counts = {v: list(expected.values()).count(v) for v in ("valid", "invalid")}
    assert counts["valid"] >= 30 and counts["invalid"] >= 20, counts  # both kinds really were tested
    assert proc.returncode == 1, proc.stderr


def hand_every_history_to_the_reusable_search(patch: pytest.MonkeyPatch) -> None:
    """Make the checker's first, short exact search give up at once, as on a hard history, so that the reusable
    search decides first (see ``check.check_search``)."""
    exact = checking.search

    def giving_up(calls, model, initial, budget, **kw):
        if budget.max_steps == checking.QUICK_STEPS:
            return Outcome(UNKNOWN, 0, -math.inf)
        return exact(calls, model, initial, budget, **kw)

    patch.setattr(checking, "search", giving_up)


@pytest.fixture(params=["exact first", "reusable first"])
def decided(request, monkeypatch) -> str:
    """Each way a search decides invalid: the exact search (every small history), or the reusable search it hands
    a hard one to, made to decide every history here."""
    if request.param == "reusable first":
        hand_every_history_to_the_reusable_search(monkeypatch)
    return request.param


def test_counterexamples_are_minimal(decided):
    """On small invalid histories the counterexample is sound and minimal by the brute force: with every other op
    indeterminate it still cannot be linearized, and relaxing any one of its ops makes it linearizable, whichever
    search decided it (and so cut the history at its frontier)."""
    rng = random.Random(7)
    checked = 0
    while checked < 40:
        events = etcd_history(rng, rng.randrange(5, 11), corrupt=True)
        if brute_force(events) != "invalid":
            continue
        verdict = check_linearizable(parse_history(to_json(events), "h.json").checked("unknown"))
        (violation,) = verdict.violations
        core = set(violation.ops)
        ops = {e["index"] for e in events if e["type"] == "invoke"}
        assert brute_force(relaxed(events, ops - core)) == "invalid", (violation, events)
        for index in core:
            assert brute_force(relaxed(events, ops - core | {index})) == "valid", (index, violation, events)
        checked += 1


def test_large_invalid_history_gets_a_minimal_counterexample():
    """A 90-op etcd-style history with an anomaly: the counterexample is confirmed minimal by the checker itself
    (each op proven needed by the exact search), and small next to the history."""
    rng = random.Random(3)
    found = 0
    while found < 3:
        ops = parse_history(to_json(etcd_history(rng, 90, corrupt=True)), "h.json").checked("unknown")
        verdict = check_linearizable(ops)
        if verdict.status != "invalid":
            continue
        found += 1
        (violation,) = verdict.violations
        assert violation.details.get("minimal", True) is True, violation
        assert 1 <= len(violation.ops) < 30


def _linearizable(events: list[dict]) -> bool:
    """The exact search's own verdict on ``events`` (no fast path, no shrinking), for a single-key history."""
    model = get_model("cas-register")
    (calls,) = partition(parse_history(to_json(events), "h.json").checked("unknown"), model).values()
    outcome = search(sorted(calls, key=lambda c: c.invoke), model, None, Budget(float("inf"), None))
    return outcome.status == "valid"


def _ok_ops(events: list[dict]) -> set[int]:
    """The invoke indices of the ops that completed ok (a failed op stays failed: it did not happen)."""
    invoked: dict = {}
    ok = set()
    for e in events:
        if e["type"] == "invoke":
            invoked[e["process"]] = e["index"]
        elif (index := invoked.pop(e["process"])) is not None and e["type"] == "ok":
            ok.add(index)
    return ok


def _one_minimal(events: list[dict], kept: set[int]) -> bool:
    """With every ok op outside ``kept`` made :info the history is not linearizable, and making any one op of
    ``kept`` :info too makes it linearizable."""
    others = _ok_ops(events) - kept
    return not _linearizable(relaxed(events, others)) and all(
        _linearizable(relaxed(events, others | {index})) for index in kept)


def test_large_counterexamples_are_one_minimal(monkeypatch):
    """1-minimal on 90-op histories, checked from the outside on the Jepsen events by the exact search alone, for
    each way the shrinker takes: a guess grown by the reusable search or, where that search cannot prove even the
    whole history invalid, by the exact one; and, with no guess found, delta debugging with either. Negative
    control: the counterexample plus one more op is not 1-minimal (that op can be made :info)."""
    rng = random.Random(11)
    seen: set[str] = set()

    def shrink_some(ways: set[str]) -> None:
        for _ in range(400):  # each way shows up within the first ~20 invalid histories of this seed
            events = etcd_history(rng, 90, corrupt=True)
            verdict = check_linearizable(parse_history(to_json(events), "h.json").checked("unknown"),
                                         fast_path=False)
            if verdict.status != "invalid":
                continue
            (violation,) = verdict.violations
            way = violation.details["shrunk_by"]
            if way in seen:
                continue
            core = set(violation.ops)
            assert violation.details["minimal"] and _one_minimal(events, core), violation
            if not seen:
                extra = min(_ok_ops(events) - core)
                assert not _one_minimal(events, core | {extra})
            seen.add(way)
            if ways <= seen:
                return

    shrink_some({"guess", "guess-exact"})
    monkeypatch.setattr(shrinking, "_grown_core", lambda *args: None)  # as if no guess were found
    shrink_some({"bisect", "bisect-exact"})
    assert seen == {"guess", "guess-exact", "bisect", "bisect-exact"}


def test_shrinking_stops_at_its_deadline_however_small_its_searches():
    """A search looks at the clock only every so many steps, and a trial on a small core takes fewer: the shrinker
    stops trying once its deadline has passed, and says the counterexample is not proven minimal (before it did, a
    200-op txn history's minimisation, given 2 s, took 6.5 s in 450 trials). Control: with time left, the same
    history gets a minimal counterexample from trials of the same size."""
    rng = random.Random(5)
    model = get_model("cas-register")
    while True:
        ops = parse_history(to_json(etcd_history(rng, 90, corrupt=True)), "h.json").checked("unknown")
        calls = sorted(next(iter(partition(ops, model).values())), key=lambda c: c.invoke)
        decided = search(calls, model, None, Budget(time.monotonic() + 30, None))
        if decided.status == "invalid":
            break
    late = shrinking.minimize(calls, model, None, time.monotonic() - 1, decided.frontier)
    assert late.details["minimal"] is False and late.details["searches"] == 0, late
    in_time = shrinking.minimize(calls, model, None, time.monotonic() + 30, decided.frontier)
    assert in_time.details["minimal"] is True and in_time.details["searches"] > 0, in_time
    assert decided.steps < 1024  # the search's own clock check would never have fired (search._CHECK_EVERY)


def crossing_registrations(n: int, names: int, key: str = "g", *, done: bool = True) -> list[dict]:
    """``n`` concurrent transactions, each claiming a user and an email if both are free (reads of nil, then two
    writes), the users and emails crossing as unique-email's do: all ``ok`` with ``done`` (many users and emails
    claimed twice: not linearizable, and hard to prove so), else never completed."""
    events = []
    for w in range(n):
        txn = [["r", f"u{w % names}", None], ["r", f"e{(w // 2) % names}", None],
               ["w", f"u{w % names}", w], ["w", f"e{(w // 2) % names}", w]]
        events.append({"type": "invoke", "process": w, "f": "txn", "value": [key, txn], "time": w})
        if done:
            events.append({"type": "ok", "process": w, "f": "txn", "value": [key, txn], "time": 10_000 + w})
    return events


def test_a_walk_of_the_reusable_search_stops_at_its_deadline():
    """One walk of the states the indeterminate calls reach is one step of the reusable search, so it looks at the
    clock itself: 12 timed-out transactions (two of 8 registers written by each) and one read, with the deadline
    passed, are UNKNOWN before the search's first step (before, the walk went on to the end, and the search decided
    in one step, never looking at the clock; a shrinking given 2 s ran 7.6 s in one search of 40 such transactions).
    Control: with time left the same search proves the history invalid."""
    events = [*crossing_registrations(12, 4, done=False),
              {"type": "invoke", "process": 99, "f": "txn", "value": ["g", [["r", "u0", None]]], "time": 20_000},
              {"type": "ok", "process": 99, "f": "txn", "value": ["g", [["r", "u0", 7]]], "time": 20_001}]
    ops = parse_history(json.dumps(events), "h.json").checked("absent")
    model = get_model("multi-register")
    (calls,) = partition(ops, model).values()
    calls.sort(key=lambda c: c.invoke)
    late = search_reusable(calls, model, model.init(None), Budget(time.monotonic() - 1, None))
    assert late.status == UNKNOWN and late.steps < 1024, late  # stopped inside a walk, before a clock check of its own
    assert search_reusable(calls, model, model.init(None), Budget(time.monotonic() + 60, None)).status == "invalid"


def test_one_hard_key_leaves_the_others_their_share_of_the_time_limit(tmp_path):
    """Every key's quick stages come first, then the keys still undecided share the time left: a small key no
    search decides in the time does not keep a bigger, easily invalid key after it from being decided (the file is
    INVALID, exit 1, the hard key UNKNOWN beside it). Negative control: the old order (each key searched to the end
    of the budget, smallest first) leaves the invalid key its 1,024 steps and the file UNKNOWN."""
    rng = random.Random(3)
    while True:
        easy = [{**e, "value": ["z", e["value"]]} for e in txn_history(rng, 300, corrupt=True)]
        ops = parse_history(to_json(easy), "z.json").checked("unknown")
        if check_linearizable(ops, "multi-register", {"x": 0, "y": 0}, 10).status == "invalid":
            break
    hard = crossing_registrations(80, 8)
    path = tmp_path / "two-keys.json"
    path.write_text(to_json(hard + [{**e, "process": 1000 + e["process"], "time": e["time"]} for e in easy]))
    proc = run_stress("check-history", str(path), "--model", "multi-register", "--nil-read", "absent",
                      "--initial", '{"x": 0, "y": 0}', "--time-limit", "4", timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'key "z":' in proc.stdout and 'key "g": search budget exhausted' in proc.stdout, proc.stdout


def generated_calls(rng: random.Random, histories: int, corrupt_share: float = 0.0) -> Iterator[list[Call]]:
    """The calls of ``histories`` generated 40-op etcd-style histories (one key), sorted by invoke; each has a
    seeded anomaly with probability ``corrupt_share`` (none drawn when 0)."""
    model = get_model("cas-register")
    for _ in range(histories):
        corrupt = rng.random() < corrupt_share if corrupt_share else False
        ops = parse_history(to_json(etcd_history(rng, 40, corrupt=corrupt)), "h.json").checked("unknown")
        yield sorted(next(iter(partition(ops, model).values())), key=lambda c: c.invoke)


def random_relaxation(rng: random.Random, calls: list[Call]) -> dict[int, Call]:
    """``calls`` by index, each ok one relaxed with probability 1/2."""
    relax = {c.index for c in calls if c.definite and rng.random() < 0.5}
    return _relaxed({c.index: c for c in calls}, sorted(relax), get_model("cas-register"))


def test_reusable_linearizations_prove_only_what_the_exact_search_finds():
    """A reusable search's linearization that needs no indeterminate op twice is accepted as proof of
    linearizability: on random relaxations of generated histories every accepted one is linearizable by the exact
    search. Negative control: one timed-out write of 1 is needed after each of two writes of 2 for both reads of 1;
    the reusable search finds that linearization, which uses the write twice, and it is refused."""
    model = get_model("cas-register")
    rng = random.Random(3)
    accepted = 0
    for calls in generated_calls(rng, 30):
        for _ in range(10):
            trial = sorted(random_relaxation(rng, calls).values(), key=lambda c: c.invoke)
            witness: list = []
            budget = Budget(time.monotonic() + 30, None)
            if search_reusable(trial, model, None, budget, witness).status == "valid" \
                    and not _overused_kinds(witness, trial):
                accepted += 1
                assert search(trial, model, None, budget).status == "valid"
    assert accepted >= 100

    twice = [{"process": 9, "type": "invoke", "f": "write", "value": 1, "time": 0},
             {"process": 9, "type": "info", "f": "write", "value": 1, "time": 1}]
    for p, (f, v), t in [(0, ("write", 2), 10), (1, ("read", 1), 20), (0, ("write", 2), 30), (1, ("read", 1), 40)]:
        twice += [{"process": p, "type": "invoke", "f": f, "value": None if f == "read" else v, "time": t},
                  {"process": p, "type": "ok", "f": f, "value": v, "time": t + 5}]
    calls = sorted(next(iter(partition(parse_history(json.dumps(twice), "t.json").checked("unknown"),
                                       model).values())), key=lambda c: c.invoke)
    witness = []
    budget = Budget(time.monotonic() + 30, None)
    assert search_reusable(calls, model, None, budget, witness).status == "valid"
    assert _overused_kinds(witness, calls) == {("write", 1, None)}
    assert search(calls, model, None, budget).status == "invalid"
    # The search between the two: with writes of 2 taking effect once it still finds that linearization, and says
    # which kind it overused; with writes of 1 taking effect once it is the exact search.
    witness = []
    assert search_reusable(calls, model, None, budget, witness, once=frozenset({("write", 2, None)})).status == "valid"
    assert _overused_kinds(witness, calls) == {("write", 1, None)}
    assert search_reusable(calls, model, None, budget, once=frozenset({("write", 1, None)})).status == "invalid"


def test_a_search_with_some_kinds_taking_effect_once_proves_what_the_exact_search_finds():
    """With any set of indeterminate kinds taking effect at most once and the others reusable, ``invalid`` is the
    exact verdict, and so is a ``valid`` whose linearization overuses no kind; with every kind once it is the exact
    search; the shrinker's refinement (:meth:`_Shrinker._exact`) always gives the exact verdict."""
    model = get_model("cas-register")
    rng = random.Random(11)
    decided = {"invalid": 0, "valid": 0, "refined": 0, "counted": 0}
    for calls in generated_calls(rng, 30, corrupt_share=0.5):
        for _ in range(6):
            current = random_relaxation(rng, calls)
            trial = sorted(current.values(), key=lambda c: c.invoke)
            kinds = sorted({(c.kind, c.arg, c.new) for c in trial if not c.definite}, key=repr)
            some = frozenset(k for k in kinds if rng.random() < 0.5)
            budget = Budget(time.monotonic() + 30, None)
            exact = search(trial, model, None, budget).status
            witness: list = []
            status = search_reusable(trial, model, None, budget, witness, once=some).status
            # Counting every kind is the exact search by another road, but its states multiply with the counts: the
            # shrinker never counts more than MAX_COUNTED_STATES ways, and 3 relaxations here with 6,912-18,432 ways
            # took 5-6 s each (17 s of this test). Compared up to 4,096 ways: 172 of the 180.
            counts = Counter((c.kind, c.arg, c.new) for c in trial if not c.definite)
            if math.prod(n + 1 for n in counts.values()) <= 4096:
                assert search_reusable(trial, model, None, budget, once=frozenset(kinds)).status == exact
                decided["counted"] += 1
            if status == "invalid":
                assert exact == "invalid"
                decided["invalid"] += 1
            elif not _overused_kinds(witness, trial):
                assert exact == "valid"
                decided["valid"] += 1
            shrinker = _Shrinker(current, model, None, budget)
            shrinker.reusable = False
            assert shrinker._status(current, exact=True, witness=None) == exact
            decided["refined"] += shrinker.exact_searches > 1
    assert decided["invalid"] >= 20 and decided["valid"] >= 20 and decided["counted"] >= 150, decided


def test_searches_sharing_a_table_decide_as_searches_with_their_own():
    """The searches of one shrinking share what they learn of how states move (``tables``): on random relaxations
    of generated histories, with random kinds taking effect once, every search that uses the shared table (left by
    the trials before it, whose indeterminate calls differ) gives the status and the linearization of a search
    with a table of its own."""
    model = get_model("cas-register")
    rng = random.Random(17)
    compared = {"valid": 0, "invalid": 0, "counted": 0}
    for calls in generated_calls(rng, 20, corrupt_share=0.5):
        tables: dict = {}
        for _ in range(12):
            trial = sorted(random_relaxation(rng, calls).values(), key=lambda c: c.invoke)
            kinds = sorted({(c.kind, c.arg, c.new) for c in trial if not c.definite}, key=repr)
            once = frozenset(k for k in kinds if rng.random() < 0.3) if rng.random() < 0.5 else frozenset()
            budget = Budget(time.monotonic() + 30, None)
            shared: list = []
            own: list = []
            status = search_reusable(trial, model, None, budget, shared, once=once, tables=tables).status
            assert search_reusable(trial, model, None, budget, own, once=once).status == status
            assert shared == own
            compared[status] += 1
            compared["counted"] += bool(once)
    assert compared["valid"] >= 100 and compared["invalid"] >= 25 and compared["counted"] >= 60, compared


def _legal_linearization(order: list, calls: list, model) -> bool:
    """Every ok call once, indeterminate ones at most once, each legal in turn, none after one that completed
    before it was invoked."""
    indices = [c.index for c in order]
    state = None
    for position, c in enumerate(order):
        ok, state = model.step(state, c)
        if not ok or any(later.complete < c.invoke for later in order[position + 1:]):
            return False
    return len(set(indices)) == len(indices) and {c.index for c in calls if c.definite} <= set(indices)


def test_the_exact_search_hands_back_a_linearization():
    """The exact search's witness (what the shrinker grows its guesses from) is a legal linearization of every
    valid history; negative control: the same check refuses a witness with two calls swapped."""
    model = get_model("cas-register")
    rng = random.Random(4)
    valid = refused = 0
    for _ in range(40):
        ops = parse_history(to_json(etcd_history(rng, 40)), "h.json").checked("unknown")
        calls = sorted(next(iter(partition(ops, model).values())), key=lambda c: c.invoke)
        relax = sorted(c.index for c in calls if c.definite and rng.random() < 0.3)
        trial = sorted(_relaxed({c.index: c for c in calls}, relax, model).values(), key=lambda c: c.invoke)
        witness: list = []
        if search(trial, model, None, Budget(time.monotonic() + 30, None), witness=witness).status != "valid":
            assert witness == []
            continue
        valid += 1
        order = [c for c, _ in witness]
        assert _legal_linearization(order, trial, model), order
        swapped = next(([*order[:i], order[i + 1], order[i], *order[i + 2:]] for i in range(len(order) - 1)
                        if order[i].complete < order[i + 1].invoke), None)
        if swapped is not None:
            refused += 1
            assert not _legal_linearization(swapped, trial, model)
    assert valid >= 20 and refused >= 10


# --------------------------------------------------------------------------------------------------- locks


def test_lock_histories_agree_with_brute_force(tmp_path):
    """60 lock histories as Jepsen's lock tests make them (5 processes alternating acquire and release, ~10 %
    timeouts), half with a failed acquire reported ok, checked with --model mutex in one call: every verdict is
    the brute force's."""
    rng = random.Random(20261204)
    expected = {}
    for n in range(60):
        events = lock_history(rng, rng.randrange(4, 12), corrupt=n % 2 == 1)
        path = write(tmp_path, f"lock{n:02d}.edn", to_edn(events, ("lines", "vector")[n % 2]))
        expected[str(path)] = brute_force(events, model="mutex")
    proc = run_stress("check-history", "--model", "mutex", *expected, cwd=tmp_path)
    assert verdicts(proc.stdout) == expected, proc.stdout[-3000:] + proc.stderr[-2000:]
    counts = Counter(expected.values())
    assert counts["valid"] >= 15 and counts["invalid"] >= 15, counts  # both kinds really were tested


def test_lock_counterexamples_are_minimal():
    """As for registers: the counterexample of an invalid lock history cannot be linearized with every other op
    indeterminate, and relaxing any one of its ops makes it linearizable (by the brute force)."""
    rng = random.Random(11)
    checked = 0
    while checked < 30:
        events = lock_history(rng, rng.randrange(5, 11), corrupt=True)
        if brute_force(events, model="mutex") != "invalid":
            continue
        (violation,) = check_linearizable(parse_history(to_json(events), "h.json").checked("unknown"),
                                          model="mutex").violations
        core = set(violation.ops)
        ops = {e["index"] for e in events if e["type"] == "invoke"}
        assert brute_force(relaxed(events, ops - core), model="mutex") == "invalid", (violation, events)
        for index in core:
            assert brute_force(relaxed(events, ops - core | {index}), model="mutex") == "valid", (index, events)
        checked += 1


LOCK = """{:process 0 :type :invoke :f :acquire :time 0}
{:process 0 :type :ok :f :acquire :time 10}
{:process 1 :type :invoke :f :acquire :time 12}
{:process 0 :type :invoke :f :release :time 15}
{:process 0 :type :%s :f :release :time 18}
{:process 1 :type :ok :f :acquire :time 30}
"""


def test_a_lock_held_twice_is_invalid_and_its_acquires_are_named(tmp_path):
    """Process 1's acquire succeeds after process 0's release: valid. The same history with that release failed
    (:not-held) gives the lock to both: invalid, the two acquires the counterexample."""
    valid = write(tmp_path, "handed-over.edn", LOCK % "ok")
    invalid = write(tmp_path, "held-twice.edn", LOCK % "fail")
    proc = run_stress("check-history", "--model", "mutex", str(valid), str(invalid), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert verdicts(proc.stdout) == {str(valid): "valid", str(invalid): "invalid"}, proc.stdout
    lines = proc.stdout.splitlines()
    shown = lines[lines.index(next(line for line in lines if line.startswith(str(invalid)))) + 2:]
    assert [line.split()[:6] for line in shown] == [["index", "0", "process", "0", "ok", "acquire"],
                                                    ["index", "2", "process", "1", "ok", "acquire"]], proc.stdout


def test_a_lease_taken_over_is_flagged_with_a_note_that_the_mutex_knows_no_expiry(tmp_path):
    """An exported lease-lock run (values [lock {:Owner :Expires :Now}]): worker 1 takes over worker 0's expired
    lease. The mutex calls that two holders (INVALID, as Knossos would), and a note on stderr says why; a history
    without leases gets no note."""
    lease = ('{:process %d :type :%s :f :acquire :value ["lock-0" {:Owner "w%d" :Expires %d :Now %d}] :time %d}\n')
    text = (lease % (0, "invoke", 0, 1000, 0, 0) + lease % (0, "ok", 0, 1000, 0, 10)
            + lease % (1, "invoke", 1, 3000, 2000, 2000) + lease % (1, "ok", 1, 3000, 2000, 2010))
    leased = write(tmp_path, "leases.edn", text)
    proc = run_stress("check-history", "--model", "mutex", str(leased), cwd=tmp_path)
    assert proc.returncode == 1 and verdicts(proc.stdout) == {str(leased): "invalid"}, proc.stdout + proc.stderr
    (note,) = proc.stderr.strip().splitlines()
    assert note.startswith(f"stress: note: {leased}: its acquires carry leases") and "no expiry" in note, note
    plain = write(tmp_path, "plain.edn", LOCK % "fail")
    proc = run_stress("check-history", "--model", "mutex", str(plain), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr


def test_lock_ops_need_the_mutex_model_and_it_takes_no_initial_value(tmp_path):
    """Each model refuses the other's ops in one line naming the model that has them; --initial under
    --model mutex is refused too (a mutex starts free)."""
    lock = write(tmp_path, "lock.edn", LOCK % "ok")
    register = write(tmp_path, "register.edn", KNOSSOS % "2")
    for args, message in (
            ((str(lock),), f"{lock}:1: an acquire op, which --model cas-register cannot check (use mutex)"),
            ((str(register), "--model", "mutex"), f"{register}:2: a write op, which --model mutex cannot check "
                                                  "(use cas-register)"),
            ((str(lock), "--model", "mutex", "--initial", "0"), "--initial does not apply to --model mutex")):
        proc = run_stress("check-history", *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("stress: error: ") and message in line, line


# ------------------------------------------------------------------------------------------- transactions

XY = {"x": 0, "y": 0}
MULTI = ("--model", "multi-register", "--initial", json.dumps(XY))


def test_txn_histories_agree_with_brute_force(tmp_path):
    """60 histories of transactions over two registers (one to three reads and writes each, ~10 % timeouts), half
    with one ok read changed, in EDN and JSON, checked with --model multi-register in one call: every verdict is
    the brute force's."""
    rng = random.Random(20261205)
    expected = {}
    for n in range(60):
        events = txn_history(rng, rng.randrange(4, 11), corrupt=n % 2 == 1)
        json_form = n % 3 == 2
        path = write(tmp_path, f"txn{n:02d}.{'json' if json_form else 'edn'}",
                     to_json(events) if json_form else to_edn(events, ("lines", "vector")[n % 2]))
        expected[str(path)] = brute_force(events, model="multi-register", initial=XY)
    proc = run_stress("check-history", *MULTI, *expected, cwd=tmp_path)
    assert verdicts(proc.stdout) == expected, proc.stdout[-3000:] + proc.stderr[-2000:]
    counts = Counter(expected.values())
    assert counts["valid"] >= 15 and counts["invalid"] >= 15, counts  # both kinds really were tested


def test_txn_counterexamples_are_minimal(decided):
    """As for registers: the counterexample of an invalid txn history cannot be linearized with every other op
    indeterminate (a relaxed txn keeps what its reads saw), and relaxing any one of its ops makes it
    linearizable (by the brute force), whichever search decided it."""
    rng = random.Random(13)
    checked = 0
    while checked < 30:
        events = txn_history(rng, rng.randrange(5, 10), corrupt=True)
        if brute_force(events, model="multi-register", initial=XY) != "invalid":
            continue
        (violation,) = check_linearizable(parse_history(to_json(events), "h.json").checked("unknown"),
                                          model="multi-register", initial=XY).violations
        core = set(violation.ops)
        ops = {e["index"] for e in events if e["type"] == "invoke"}
        assert brute_force(relaxed(events, ops - core), "multi-register", XY) == "invalid", (violation, events)
        for index in core:
            assert brute_force(relaxed(events, ops - core | {index}), "multi-register", XY) == "valid", (index,
                                                                                                        events)
        checked += 1


def test_the_reusable_search_decides_as_the_brute_force_and_its_frontier_cuts_an_invalid_prefix():
    """The reusable search that hard histories are handed to, deciding every small one first: the
    verdicts are the brute force's on etcd-style and txn histories. And where it proves a history invalid, its
    frontier is at or after the exact search's (it allows more), and the history cut there is invalid exactly."""
    rng = random.Random(20261204)
    histories = [(etcd_history(rng, rng.randrange(4, 12), corrupt=n % 2 == 1), "cas-register", None)
                 for n in range(60)]
    histories += [(txn_history(rng, rng.randrange(4, 11), corrupt=n % 2 == 1), "multi-register", XY)
                  for n in range(60)]
    cut = Counter()
    for events, model_name, initial in histories:
        expected = brute_force(events, model=model_name, initial=initial)
        ops = parse_history(to_json(events), "h.json").checked("unknown")
        with pytest.MonkeyPatch.context() as patch:
            hand_every_history_to_the_reusable_search(patch)
            assert check_linearizable(ops, model_name, initial).status == expected, events
        model = get_model(model_name)
        for calls in partition(ops, model).values():
            calls = sorted(calls, key=lambda c: c.invoke)
            budget = Budget(time.monotonic() + 30, None)
            reusable = search_reusable(calls, model, model.init(initial), budget)
            if reusable.status != "invalid":
                continue
            exact = search(calls, model, model.init(initial), budget)
            assert exact.status == "invalid" and reusable.frontier >= exact.frontier, events
            prefix = sorted(shrinking._prefix(calls, model, reusable.frontier), key=lambda c: c.invoke)
            assert search(prefix, model, model.init(initial), budget).status == "invalid", events
            cut[reusable.frontier > exact.frontier] += 1
    assert cut[False] >= 20, cut  # both searches proved enough histories invalid to mean something


def test_multi_register_steps_build_the_states_a_plain_dict_gives():
    """The model's step keeps a state's order when only values change and rebuilds it when a key comes or goes: on
    random transactions over random states (keys absent, None, of mixed types) it agrees with applying the
    micro-ops to a plain dict, legality and the state after (equal, so the search's memo sees one state).
    Negative control: a new key's state built without sorting is a different state."""
    model = get_model("multi-register")
    rng = random.Random(1)
    keys, values = ["x", "y", "z", 1], [None, 0, 1]
    for _ in range(3000):
        start = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 4))}
        micro = tuple((rng.choice(["read", "write"]), rng.choice(keys), rng.choice(values))
                      for _ in range(rng.randint(1, 3)))
        ok, after = model.step(model.init(start), Call(0, "txn", micro, None, 0, 1, True))
        plain_dict, legal = dict(start), True
        for f, k, v in micro:
            if f == "write":
                plain_dict[k] = v
            elif plain_dict.get(k) != v:
                legal = False
                break
        assert ok == legal, (start, micro)
        if legal:
            assert after == model.init(plain_dict) and hash(after) == hash(model.init(plain_dict)), (start, micro)
    unsorted = FrozenDict([*model.init({"y": 0}), ("x", 1)])
    assert unsorted != model.step(model.init({"y": 0}), Call(0, "txn", (("write", "x", 1),), None, 0, 1, True))[1]


HARD_TXN = dict(n_ops=500, registers=("x", "y"), corrupt=True)  # seed 0: the exact search alone is lost in it


def test_a_hard_invalid_txn_history_is_proven_invalid_by_the_command(tmp_path):
    """A 500-op history of transactions over two registers with one read changed, 10 % of them timed out: the
    exact search, which must try every set of the 50 timed-out transactions that may have taken effect, did not
    decide it in 60 s; `stress check-history` proves it invalid within its default time limit, with a minimal
    counterexample. Negative control: with that search alone (no reusable search to hand it to) it is UNKNOWN."""
    events = txn_history(random.Random(0), **HARD_TXN)
    path = write(tmp_path, "hard.edn", to_edn(events))
    proc = run_stress("check-history", str(path), *MULTI, "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    (result,) = json.loads(proc.stdout)["files"]
    assert result["verdict"] == "invalid", result
    (violation,) = result["violations"]
    assert violation["details"]["minimal"] is True and len(violation["ops"]) <= 3, violation

    ops = parse_history(to_edn(events), "hard.edn").checked("unknown")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checking, "QUICK_STEPS", math.inf)
        verdict = check_linearizable(ops, "multi-register", XY, time_limit_s=1.0)
    assert verdict.status == "unknown", verdict


TXN = """{:process 0 :type :invoke :f :txn :value [[:write :x 1] [:write :y 1]] :time 0}
{:process 0 :type :ok :f :txn :value [[:write :x 1] [:write :y 1]] :time 10}
{:process 1 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]] :time 20}
{:process 1 :type :ok :f :txn :value [[:read :x 1] [:read :y %s]] :time 30}
"""


def test_a_torn_transaction_is_invalid_and_named(tmp_path):
    """A txn writes x and y; a later txn reads both: seeing both writes is valid, seeing x written and y not is
    a torn read, invalid, and that read alone is the counterexample (the write, indeterminate, either happened
    whole or not at all). Without --initial the registers start nil, which the reads of 0 cannot have seen."""
    whole = write(tmp_path, "whole.edn", TXN % "1")
    torn = write(tmp_path, "torn.edn", TXN % "0")
    proc = run_stress("check-history", *MULTI, str(whole), str(torn), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert verdicts(proc.stdout) == {str(whole): "valid", str(torn): "invalid"}, proc.stdout
    lines = proc.stdout.splitlines()
    shown = lines[lines.index(next(line for line in lines if line.startswith(str(torn)))) + 2:]
    assert [line.split()[:5] for line in shown] == [["index", "2", "process", "1", "ok"]], proc.stdout
    assert "[[:read :x 1] [:read :y 0]]" in shown[0], shown
    zero = write(tmp_path, "zero.edn", "{:process 0 :type :invoke :f :txn :value [[:read :x nil]]}\n"
                                       "{:process 0 :type :ok :f :txn :value [[:read :x 0]]}\n")
    proc = run_stress("check-history", "--model", "multi-register", str(zero), cwd=tmp_path)
    assert proc.returncode == 1 and verdicts(proc.stdout) == {str(zero): "invalid"}, proc.stdout + proc.stderr
    proc = run_stress("check-history", *MULTI, str(zero), "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "valid", proc.stdout + proc.stderr


def test_the_transactions_example_is_valid_and_its_comment_says_what_breaks_it(tmp_path):
    """examples/histories/transactions.edn (run by the README) is VALID; the change its comment describes, the
    last read's y from 2 to 1, makes it INVALID."""
    example = REPO / "examples" / "histories" / "transactions.edn"
    text = example.read_text()
    assert text.count("[[:read :x 3] [:read :y 2]]") == 1 and "Change that read's y to 1" in text
    broken = write(tmp_path, "broken.edn", text.replace("[[:read :x 3] [:read :y 2]]", "[[:read :x 3] [:read :y 1]]"))
    proc = run_stress("check-history", "--model", "multi-register", str(example), str(broken), cwd=tmp_path)
    assert verdicts(proc.stdout) == {str(example): "valid", str(broken): "invalid"}, proc.stdout + proc.stderr


def test_txn_nil_reads_info_and_independent_keys(tmp_path):
    """A nil read inside an ok txn constrains nothing by default (Knossos) and is a violation with --nil-read
    absent; a timed-out txn's write may have happened; Jepsen's [key txn] tuples are checked key by key, only
    the key with a stale read is reported."""
    nil = write(tmp_path, "nil.edn", "\n".join([
        "{:process 0 :type :invoke :f :txn :value [[:write :x 1]]}", "{:process 0 :type :ok :f :txn :value "
        "[[:write :x 1]]}", "{:process 1 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}",
        "{:process 1 :type :ok :f :txn :value [[:read :x nil] [:read :y 0]]}"]))
    info = write(tmp_path, "info.json", json.dumps([
        {"process": 0, "type": "invoke", "f": "txn", "value": [["write", "x", 5], ["read", "y", None]]},
        {"process": 0, "type": "info", "f": "txn", "value": [["write", "x", 5], ["read", "y", None]]},
        {"process": 1, "type": "invoke", "f": "txn", "value": [["read", "x", None]]},
        {"process": 1, "type": "ok", "f": "txn", "value": [["read", "x", 5]]}]))
    keyed = write(tmp_path, "keyed.edn", "\n".join(
        f"{{:process {p} :type :{t} :f :txn :value [{k} [{m}]]}}" for p, t, k, m in [
            (0, "invoke", 1, "[:write :x 1]"), (0, "ok", 1, "[:write :x 1]"),
            (1, "invoke", 1, "[:read :x nil]"), (1, "ok", 1, "[:read :x 1]"),
            (2, "invoke", 2, "[:write :x 1]"), (2, "ok", 2, "[:write :x 1]"),
            (2, "invoke", 2, "[:write :x 2]"), (2, "ok", 2, "[:write :x 2]"),
            (3, "invoke", 2, "[:read :x nil]"), (3, "ok", 2, "[:read :x 1]")]))
    proc = run_stress("check-history", *MULTI, str(nil), str(info), str(keyed), "--json", cwd=tmp_path)
    files = {Path(f["file"]).name: f for f in json.loads(proc.stdout)["files"]}
    assert {name: f["verdict"] for name, f in files.items()} == {"nil.edn": "valid", "info.json": "valid",
                                                                 "keyed.edn": "invalid"}, proc.stdout
    assert files["nil.edn"]["nil_reads_ignored"] == 1, files["nil.edn"]
    assert files["keyed.edn"]["independent"] and files["keyed.edn"]["keys"] == 2
    assert [v["key"] for v in files["keyed.edn"]["violations"]] == ["2"], files["keyed.edn"]
    proc = run_stress("check-history", *MULTI, str(nil), "--nil-read", "absent", cwd=tmp_path)
    assert proc.returncode == 1 and verdicts(proc.stdout) == {str(nil): "invalid"}, proc.stdout + proc.stderr


def test_txn_ops_need_the_multi_register_model_and_a_map_of_initial_values(tmp_path):
    """A txn under another model, a micro-op that is neither read nor write, a completion whose micro-ops are
    not its invoke's and an --initial that is not a map are each refused in one line, exit 2."""
    txn = write(tmp_path, "txn.edn", TXN % "1")
    bad_micro = write(tmp_path, "cas.edn", "{:process 0 :type :invoke :f :txn :value [[:cas :x [0 1]]]}\n")
    swapped = write(tmp_path, "swapped.edn", "{:process 0 :type :invoke :f :txn :value [[:read :x nil]]}\n"
                                             "{:process 0 :type :ok :f :txn :value [[:read :y 0]]}\n")
    for args, message in (
            ((str(txn),), f"{txn}:1: a txn op, which --model cas-register cannot check (use multi-register)"),
            ((str(bad_micro), *MULTI), f"{bad_micro}:1:"),
            ((str(swapped), *MULTI), f"{swapped}:2:"),
            ((str(txn), "--model", "multi-register", "--initial", "0"), "--initial for --model multi-register "
                                                                         "must be a JSON map")):
        proc = run_stress("check-history", *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("stress: error: ") and message in line, line


# --------------------------------------------------------------------------------------------------- forms

KNOSSOS = """; a Knossos-style history: a vector of op maps, keywords, nil, comments
[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok,     :f :write, :value 1}   ; the write is done
 {:process 1, :type :invoke, :f :read,  :value nil}
 {:process 1, :type :ok,     :f :read,  :value 1}
 {:process 2, :type :invoke, :f :cas,   :value [1 2]}
 {:process 2, :type :ok,     :f :cas,   :value [1 2]}
 {:process 3, :type :invoke, :f :read,  :value nil}
 {:process 3, :type :ok,     :f :read,  :value %s}]
"""


def test_forms_keywords_comments_and_json(tmp_path):
    """The same history as an EDN vector, list, one map per line and JSON: same verdicts; a read of 1 after the
    cas to 2 is the negative control."""
    good, bad = KNOSSOS % "2", KNOSSOS % "1"
    files = {
        "vector.edn": good,
        "list.edn": good.replace("\n[", "\n(").replace("]\n", ")\n"),
        "lines.edn": good.replace("\n[", "\n").replace("}]\n", "}\n"),
        "stale.edn": bad,
        "stale.json": json.dumps([
            {"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": "ok", "f": "write",
                                                                           "value": 1},
            {"process": 2, "type": "invoke", "f": "cas", "value": [1, 2]}, {"process": 2, "type": "ok", "f": "cas",
                                                                              "value": [1, 2]},
            {"process": 3, "type": "invoke", "f": "read", "value": None}, {"process": 3, "type": "ok", "f": "read",
                                                                             "value": 1}]),
        "stale.jsonl": "\n".join(json.dumps({"process": p, "type": t, "f": f, "value": v}) for p, t, f, v in [
            (0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 2), (0, "ok", "write", 2),
            (1, "invoke", "read", None), (1, "ok", "read", 1)]) + "\n",
    }
    paths = [str(write(tmp_path, name, text)) for name, text in files.items()]
    proc = run_stress("check-history", *paths, cwd=tmp_path)
    got = {Path(f).name: v for f, v in verdicts(proc.stdout).items()}
    assert got == {"vector.edn": "valid", "list.edn": "valid", "lines.edn": "valid", "stale.edn": "invalid",
                   "stale.json": "invalid", "stale.jsonl": "invalid"}, proc.stdout + proc.stderr
    # The counterexample names its ops as the file has them: index (position), process, f, value, line.
    block = proc.stdout.split("stale.edn: INVALID")[1].split("\n", 1)[1].split(str(tmp_path))[0]
    assert re.search(r"index 4 +process 2 +ok +cas +\[1 2\] +event 4 → 5 +\(line 6\)", block), block
    assert re.search(r"index 6 +process 3 +ok +read +1 +event 6 → 7 +\(line 8\)", block), block
    assert proc.returncode == 1


def test_independent_tuples_are_checked_per_key(tmp_path):
    """Jepsen's [key value] tuples: key 1 is fine, key 2 has a stale read; only key 2 is reported."""
    rng = random.Random(5)
    events = etcd_history(rng, 8, keys=3)
    lines = [e for e in events]
    base = max(e["time"] for e in lines) + 10
    lines += [{"process": 99, "type": t, "f": f, "value": [2, v], "time": base + i, "index": len(lines) + i}
              for i, (t, f, v) in enumerate([("invoke", "write", 7), ("ok", "write", 7), ("invoke", "write", 8),
                                              ("ok", "write", 8), ("invoke", "read", None), ("ok", "read", 7)])]
    path = write(tmp_path, "independent.edn", to_edn(lines))
    proc = run_stress("check-history", str(path), "--json", cwd=tmp_path)
    result = json.loads(proc.stdout)
    (file_result,) = result["files"]
    assert file_result["verdict"] == "invalid" and file_result["keys"] == 3 and file_result["independent"]
    assert [v["key"] for v in file_result["violations"]] == ["2"]
    assert [op["value"] for op in file_result["violations"][0]["counterexample"]] == ["7", "8", "7"]
    assert proc.returncode == 1 and result["verdict"] == "invalid"


def test_nil_read_initial_and_invoke_without_completion(tmp_path):
    """A read of nil after a write: ignored by default (Knossos), a violation with --nil-read absent. --initial
    sets what a never-written key holds. An invoke with no completion may have happened (info)."""
    nil_after_write = write(tmp_path, "nil.edn", "\n".join([
        "{:process 0 :type :invoke :f :write :value 1}", "{:process 0 :type :ok :f :write :value 1}",
        "{:process 1 :type :invoke :f :read :value nil}", "{:process 1 :type :ok :f :read :value nil}"]))
    reads_zero = write(tmp_path, "zero.edn", "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok "
                                             ":f :read :value 0}\n")
    pending = write(tmp_path, "pending.edn", "\n".join([
        "{:process 0 :type :invoke :f :write :value 5}",
        "{:process 1 :type :invoke :f :read :value nil}", "{:process 1 :type :ok :f :read :value 5}"]))
    failed = write(tmp_path, "failed.edn", pending.read_text().replace(
        ":value 5}\n{:process 1", ":value 5}\n{:process 0 :type :fail :f :write :value 5}\n{:process 1", 1))
    default = run_stress("check-history", str(nil_after_write), str(reads_zero), str(pending), str(failed),
                         cwd=tmp_path)
    assert {Path(f).name: v for f, v in verdicts(default.stdout).items()} == {
        "nil.edn": "valid", "zero.edn": "invalid", "pending.edn": "valid", "failed.edn": "invalid"}, default.stdout
    absent = run_stress("check-history", str(nil_after_write), str(reads_zero), "--nil-read", "absent",
                        "--initial", "0", cwd=tmp_path)
    assert {Path(f).name: v for f, v in verdicts(absent.stdout).items()} == {
        "nil.edn": "invalid", "zero.edn": "valid"}, absent.stdout + absent.stderr
    assert absent.returncode == 1


def test_exit_code_is_the_worst_and_unknown_on_a_tiny_budget(tmp_path):
    """valid + unknown exits 3, with an invalid file 1; a 0 s budget leaves a hard history unknown."""
    # 32 concurrent writes, then reads of 3 and of 4: deciding it means trying their orders (well over the
    # 1024 steps after which the budget is first looked at).
    hard = [f"{{:process {p} :type :invoke :f :write :value {p} :time 0}}" for p in range(32)]
    hard += [f"{{:process {p} :type :ok :f :write :value {p} :time 100}}" for p in range(32)]
    hard += ["{:process 40 :type :invoke :f :read :time 200}", "{:process 40 :type :ok :f :read :value 3 :time 210}",
             "{:process 40 :type :invoke :f :read :time 300}", "{:process 40 :type :ok :f :read :value 4 :time 310}"]
    hard_path = write(tmp_path, "hard.edn", "\n".join(hard) + "\n")
    valid = write(tmp_path, "valid.edn", KNOSSOS % "2")
    invalid = write(tmp_path, "invalid.edn", KNOSSOS % "1")
    proc = run_stress("check-history", str(valid), str(hard_path), "--time-limit", "0", cwd=tmp_path)
    assert verdicts(proc.stdout) == {str(valid): "valid", str(hard_path): "unknown"}, proc.stdout
    assert "budget" in proc.stdout and proc.returncode == 3
    assert "  search budget exhausted after" in proc.stdout and "key :" not in proc.stdout, proc.stdout
    assert "(--time-limit 0 s per file: a larger one lets the search go on)" in proc.stdout, proc.stdout
    proc = run_stress("check-history", str(hard_path), str(invalid), str(valid), "--time-limit", "0", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout


@pytest.mark.parametrize("name, text, line, words", [
    ("truncated.edn", "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read\n", 2, "ends inside"),
    ("bracket.edn", "[{:process 0 :type :invoke :f :read}\n {:process 0 :type :ok :f :read :value 1]\n", 2,
     "unexpected"),
    ("odd.edn", "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f}\n", 2, "key and no value"),
    ("twice.edn", "{:process 0 :type :invoke :f :read}\n; gap\n{:process 0 :type :invoke :f :read}\n", 3,
     "second invoke"),
    ("stray.edn", "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 1}\n"
                  "{:process 0 :type :ok :f :read :value 2}\n", 3, "no open invoke"),
    ("badf.edn", "{:process 0 :type :invoke :f :read}\n{:process 1 :type :invoke :f :add :value 1}\n", 2,
     "not read, write, cas, acquire, release or txn"),
    ("badcas.edn", "{:process 0 :type :invoke :f :cas :value 3}\n", 1, "[expected new]"),
    ("bad.json", '[{"process": 0, "type": "invoke", "f": "read"},\n {"process": 0, "type": "ok" "f": "read"}]\n', 2,
     "not JSON"),
    ("notamap.edn", "[{:process 0 :type :invoke :f :read}\n 42]\n", 2, "expected an op map"),
])
def test_unreadable_input_exits_2_with_the_line(tmp_path, name, text, line, words):
    path = write(tmp_path, name, text)
    proc = run_stress("check-history", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (message,) = proc.stderr.strip().splitlines()
    assert message.startswith(f"stress: error: {path}:{line}: ") and words in message, message
    assert "Traceback" not in proc.stderr


def test_unreadable_file_wins_but_the_others_are_checked(tmp_path):
    """Exit 2 for a missing file, a bad option or a cas under --model register; readable files still get a line."""
    valid = write(tmp_path, "valid.edn", KNOSSOS % "2")
    invalid = write(tmp_path, "invalid.edn", KNOSSOS % "1")
    proc = run_stress("check-history", str(invalid), str(tmp_path / "missing.edn"), str(valid), cwd=tmp_path)
    assert proc.returncode == 2 and verdicts(proc.stdout) == {str(invalid): "invalid", str(valid): "valid"}
    assert proc.stderr.strip() == f"stress: error: {tmp_path / 'missing.edn'}: no such file"
    proc = run_stress("check-history", str(valid), "--model", "register", cwd=tmp_path)
    assert proc.returncode == 2 and "register cannot check" in proc.stderr and f"{valid}:6:" in proc.stderr
    for option, value in (("--model", "queue"), ("--nil-read", "maybe"), ("--initial", "{oops"),
                          ("--time-limit", "-1"), ("--time-limit", "nan")):
        proc = run_stress("check-history", str(valid), option, value, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.startswith(f"stress: error: {option}"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_runs_without_the_sdk(tmp_path, no_sdk):  # noqa: F811 - the fixture
    """check-history reads files only: it works with aioboto3/botocore made unimportable."""
    valid = write(tmp_path, "valid.edn", KNOSSOS % "2")
    proc = run_stress("check-history", str(valid), env=no_sdk, cwd=tmp_path)
    assert proc.returncode == 0 and verdicts(proc.stdout) == {str(valid): "valid"}, proc.stderr[-2000:]


def test_reader_pairs_like_jepsen():
    """Completions pair with their process's invoke; an invoke left open is info; times default to event order."""
    history = parse_history("{:process 0 :type :invoke :f :write :value 1}\n"
                            "{:process 1 :type :invoke :f :read}\n"
                            "{:process 1 :type :ok :f :read :value 1}\n", "h.edn")
    write_op, read_op = history.ops
    assert (write_op.type, write_op.invoke_time, write_op.complete_time) == ("info", 0, None)
    assert (read_op.type, read_op.result, read_op.invoke_time, read_op.complete_time) == ("ok", 1, 1, 2)
    assert not history.timed and not history.independent
    with pytest.raises(HistoryError, match=r"h.edn:2: op has no :time but others have one"):
        parse_history("{:process 0 :type :invoke :f :read :time 5}\n{:process 0 :type :ok :f :read}\n", "h.edn")


def test_fast_edn_reader_agrees_with_edn_format(monkeypatch):
    """The reader's own pass over plain Jepsen EDN gives the events that edn_format's forms give; anything beyond
    it (floats, sets, symbols, escapes, tags, unbalanced brackets, an op map's non-keyword key, a first token
    that does not say where the op maps are) is left to edn_format."""
    from harness.history import jepsen
    from harness.history.jepsen import _parse_edn, _plain_jepsen_edn

    def both(text: str) -> tuple[list, list]:
        fast = _parse_edn(text, "h.edn")[0]
        with monkeypatch.context() as patch:
            patch.setattr(jepsen, "_plain_jepsen_edn", lambda text: None)
            return fast, _parse_edn(text, "h.edn")[0]

    rng = random.Random(9)
    for n in range(30):
        events = etcd_history(rng, rng.randrange(1, 40), keys=1 + n % 3)
        text = f"; history {n}\n" + to_edn(events, ("lines", "vector", "list")[n % 3], times=n % 2 == 0)
        assert _plain_jepsen_edn(text) is not None
        fast, slow = both(text)
        assert fast == slow and len(fast) == len(events)
    for nested in ("{:a {:b 1 [1 2] 3} :c [nil true]}", "[{:a 1} {:b [1 {:c 2}]}]", "({:a nil})",
                   "{:a [1 2]} {:a {:b {:c -1}}}"):  # maps inside values keep their keys, as edn_format's
        assert _plain_jepsen_edn(nested) is not None, nested
        fast, slow = both(nested)
        assert fast == slow, nested
    for other in ('{:a 1.5}', '{:a #{1 2}}', '{:a "x\\"y"}', "{:a sym}", '{:a #inst "2020-01-01"}', "{:a 1",
                  "{:a 1 :b}", "[1 2)", "{:a 1 :a 2}", r"{:a \c}", "{:a 1N}", "{1 2}", '{"a" 1}', "[{:a 1}] {:a 2}"):
        assert _plain_jepsen_edn(other) is None, other
    beyond = parse_history('{:process 0 :type :invoke :f :write :value #{1.5 "x\\"y"}}\n'
                           '{:process 0 :type :ok :f :write :value #{1.5 "x\\"y"}}\n', "h.edn")
    assert beyond.ops[0].value == frozenset({1.5, 'x"y'})
