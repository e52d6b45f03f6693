"""Read a Jepsen or Knossos register history (EDN or JSON) into :class:`Op` s for the linearizability checker.

Accepted forms:

* EDN: one op map per line as in Jepsen's ``history.edn``, or one vector or list of op maps as in
  Knossos's test data; ``;`` comments, commas and any layout are fine. ``edn_format`` parses it, except
  that a file made only of the tokens Jepsen writes (brackets, keywords, integers, nil, booleans, plain
  strings) is read by a small pass of its own, about 7 times faster (see :func:`_plain_jepsen_edn`);
* Jepsen JSON: an array of op objects (what ``stress export`` writes) or one object per line.

The format comes from the file name (``.edn``, ``.json``, ``.jsonl``), else from the text (JSON if it
parses as JSON). An op is ``{:process p, :type t, :f f, :value v}`` with optional ``:time`` (ns) and
``:index``; ``:process :nemesis`` events are skipped. Jepsen's semantics:

* each process's ``:invoke`` pairs with that process's next completion (``:ok``, ``:fail`` or ``:info``);
  an invoke never completed counts as ``:info``; a second invoke while one is open, or a completion with
  none open, makes the file unreadable (a history that never happened must not be judged);
* ``:fail`` did not happen, ``:info`` may or may not have; a read's value is its ``:ok`` completion's,
  a write's or cas's its invoke's; ``:f`` is ``:read``, ``:write`` or ``:cas`` with value ``[expected new]``,
  ``:acquire`` or ``:release`` (a lock), or ``:txn`` (Knossos's multi-register) with value a vector of
  micro-ops ``[f k v]``, ``f`` ``:read`` or ``:write`` (or Jepsen's ``:r`` and ``:w``): an ok txn's value is
  its completion's (the values its reads saw), another's its invoke's;
* ``:value`` is a register value, or Jepsen's independent tuple ``[key value]`` when every client op's
  value is such a pair (every cas's a ``[key [expected new]]``, every txn's a ``[key [[f k v] ...]]``):
  each key is then its own register (or its own set of registers);
* times are ``:time`` when every event has one, else the events' order in the file;
* an op's index is its invoke's ``:index`` when every event has a distinct integer one, else the
  invoke's position in the file (0-based), as in Jepsen.

``nil_read`` says what a read of ``nil`` means. ``unknown`` (the default) is Knossos's convention: such a
read constrains nothing, because Jepsen clients often return nil for "no value seen" and a crashed
read's completion carries nil; verdicts then agree with Knossos on the same file. ``absent`` reads nil as
a value: the state of a key nobody wrote (this harness's own histories use nil for an absent item).

Every error is a :class:`HistoryError` naming the file and the line.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import edn_format
import orjson
from edn_format import edn_lex

from harness.history.events import FAIL, INFO, INVOKE, NEMESIS, OK, HistoryError, Op

NIL_READS = ("unknown", "absent")
FUNCTIONS = ("read", "write", "cas", "acquire", "release", "txn")  # registers, a mutex, a multi-register
_MICRO_FUNCTIONS = {"read": "read", "r": "read", "write": "write", "w": "write"}  # a txn's micro-ops
TYPES = (INVOKE, OK, FAIL, INFO)
_SUFFIXES = {".edn": "edn", ".json": "json", ".jsonl": "json"}


@dataclass
class JepsenHistory:
    """The ops of one history file, and what is needed to show them as the file has them."""

    name: str
    fmt: str
    ops: list[Op]
    independent: bool
    timed: bool
    nil_reads: int
    _line_of_event: Callable[[int], int | None]

    def checked(self, nil_read: str) -> list[Op]:
        """The ops the checker judges: with ``nil_read="unknown"`` reads of nil are left out (a txn's micro-ops
        too, and a txn left with none)."""
        if nil_read == "absent":
            return self.ops
        out = []
        for op in self.ops:
            if op.extra["nil_read"]:
                continue
            if op.extra.get("nil_micro"):
                micro = tuple(m for m in op.value if m[0] != "read" or m[2] is not None)
                if not micro:
                    continue
                op = dataclasses.replace(op, value=micro)
            out.append(op)
        return out

    @property
    def keys(self) -> int:
        """How many registers (independent keys) the history holds."""
        return len({op.key for op in self.ops})

    def line(self, op: Op) -> int | None:
        """The line of ``op``'s invoke in the file (None when it cannot be told)."""
        return self._line_of_event(op.extra["event"])

    def show(self, value: Any) -> str:
        """A value as the file writes it (EDN or JSON)."""
        return show(value, self.fmt)

    def shown(self, op: Op) -> str:
        """What ``op`` wrote or read (a write's or cas's value, an ok read's result) as the file writes it; ""
        for a read that returned nothing."""
        value = op.extra["shown"]
        return "" if value is _UNSHOWN else show(value, self.fmt)


def show(value: Any, fmt: str) -> str:
    """``value`` as EDN or JSON text."""
    if type(value) is int:  # the same in both, and most keys are: edn_format's dump was a third of pairing
        return str(value)
    if fmt == "edn":
        return edn_format.dumps(value)
    return json.dumps(value, default=str)


def read_history(path: Path) -> JepsenHistory:
    """Read and pair the history in ``path``; raises HistoryError (with the line) if it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HistoryError(f"{path}:{line}: not UTF-8 text") from None
    return parse_history(text, str(path), _SUFFIXES.get(path.suffix.lower()))


def parse_history(text: str, name: str, fmt: str | None = None) -> JepsenHistory:
    """Parse ``text`` (``fmt`` ``edn`` or ``json``; None: JSON if it parses as JSON, else EDN)."""
    if not text.strip():
        raise HistoryError(f"{name}: empty file (no ops)")
    if fmt is None:
        fmt = "json" if _looks_like_json(text) else "edn"
    events, line_of = _parse_json(text, name) if fmt == "json" else _parse_edn(text, name)
    return _pair(events, name, fmt, line_of)


# ------------------------------------------------------------------------------------------------- EDN


def _parse_edn(text: str, name: str) -> tuple[list[dict[str, Any]], Callable[[int], int | None]]:
    fast = _plain_jepsen_edn(text)
    if fast is not None:
        items, nested = fast
    else:
        try:
            forms = edn_format.loads_all(text)
        except Exception as exc:  # edn_format raises its decode error, or others for unknown tags and bad literals
            line, message = _edn_error(text, exc)
            raise HistoryError(f"{name}:{line}: not EDN: {message}" if line else f"{name}: not EDN: {message}") \
                from None
        nested = len(forms) == 1 and _is_sequence(forms[0])
        items = list(forms[0]) if nested else forms
    lines = _Lines(text)
    starts: list[int] | None = None

    def line_of(event: int) -> int | None:
        nonlocal starts
        if starts is None:  # only for an error or a counterexample: lexing again costs a quarter of a parse
            starts = _element_starts(text, 1 if nested else 0)
        return lines.at(starts[event]) if event < len(starts) else None

    events = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise HistoryError(_at(name, line_of(position), f"expected an op map, found {edn_format.dumps(item)}"))
        events.append(item if fast is not None else
                      {k.name if isinstance(k, edn_format.Keyword) else str(k): _plain(v) for k, v in item.items()})
    return events, line_of


# The few EDN tokens Jepsen's own histories are made of: brackets, keywords, integers, nil, true, false and
# strings without escapes. Anything else (floats, symbols, sets, tags, escapes) leaves the file to edn_format.
_PLAIN_TOKEN = re.compile(r"""[\s,]*(?:(;[^\n]*)|([{}\[\]()])|(:[A-Za-z*!?_][\w*!?+\-.<>=/]*)|(-?\d+)(?=[\s,\]})]|$)
                              |(nil|true|false)(?=[\s,\]})]|$)|"([^"\\]*)")""", re.VERBOSE)
_CLOSING = {"}": "{", "]": "[", ")": "("}
_CONSTANTS = {"nil": None, "true": True, "false": False}


def _plain_jepsen_edn(text: str) -> tuple[list[Any], bool] | None:
    """The items of ``text`` as :func:`_parse_edn` makes them of edn_format's forms, and whether they are the
    elements of one top-level vector or list (else they are the top-level forms), if ``text`` holds only the
    tokens of ``_PLAIN_TOKEN``; else None.

    edn_format costs about 0.2-0.5 ms per op map (measured on 90-op etcd-style histories: some 90 ms a
    file against 15 ms to check it, and it grows faster than the file; 83 us against this pass's 11 on 4,000
    maps on a faster machine, 2026-12-02), so the common case is read here
    and edn_format stays the reader of everything else and of every error (None also when the brackets
    do not balance, or an op map has a key that is not a keyword). The op maps, guessed from the first
    token (a bracket opening a vector or list: its elements; else the top-level forms), come out as the
    events themselves: keyed by the keywords' names, their values as :func:`_plain` makes them. Making
    them so here, not after, took a 200,000-op, 35 MB history (ten keys) from 8.8 s to 4.7 s, and `stress
    check-history` on it from 17.2 s to 13.1 s. (The pass before built every map with its keywords as keys, and
    one with a vector as a key raised TypeError.)
    """
    stack: list[tuple[str, list[Any]]] = [("", [])]
    items = stack[0][1]
    keywords: dict[str, Any] = {}
    keyword_type = edn_format.Keyword
    op_depth = 0  # how many brackets are open around an op map: 1 or 2, once the first token says
    match = _PLAIN_TOKEN.scanner(text).match
    end = 0
    while True:
        m = match()
        if m is None or m.end() == end:
            break
        end = m.end()
        token = m.lastindex
        if token == 1:  # a comment
            continue
        if not op_depth:
            op_depth = 2 if token == 2 and m.group(2) in "[(" else 1
        if token == 2:
            bracket = m.group(2)
            if bracket in "{[(":
                items = []
                stack.append((bracket, items))
                continue
            opener, done = stack.pop()
            if opener != _CLOSING[bracket] or not stack:
                return None
            if opener == "{":
                if len(done) % 2:
                    return None
                if len(stack) == op_depth:
                    keys = done[::2]
                    if any(type(k) is not keyword_type for k in keys):
                        return None
                    value: Any = {k.name: v for k, v in zip(keys, done[1::2], strict=True)}
                else:
                    value = {_hashable(done[i]): done[i + 1] for i in range(0, len(done), 2)}
                if len(value) != len(done) // 2:
                    return None  # a repeated key: edn_format's error
            else:
                value = done
            items = stack[-1][1]
        elif token == 3:
            kw = m.group(3)
            value = keywords.get(kw)
            if value is None:
                value = keywords[kw] = keyword_type(kw[1:])
        elif token == 4:
            value = int(m.group(4))
        elif token == 5:
            value = _CONSTANTS[m.group(5)]
        else:
            value = m.group(6)
        items.append(value)
    forms = stack[0][1]
    if text[end:].strip(" \t\r\n,") or len(stack) != 1:
        return None
    nested = len(forms) == 1 and type(forms[0]) is list
    if nested != (op_depth == 2):
        return None  # the first token misled the guess (a vector, then more forms): edn_format reads it
    return (forms[0] if nested else forms), nested


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _plain(value: Any) -> Any:
    """EDN collections as Python lists, dicts and frozensets (keywords, symbols and scalars kept)."""
    if _is_sequence(value):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {_hashable(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return frozenset(_hashable(_plain(v)) for v in value)
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, _hashable(v)) for k, v in value.items())
    return value


_LEXPOS = re.compile(r"lexpos (\d+)")
_OPENERS = ("VECTOR_START", "LIST_START", "MAP_START", "SET_START")
_CLOSERS = ("VECTOR_END", "LIST_END", "MAP_OR_SET_END")
_PREFIXES = ("TAG", "MAP_NAMESPACE_TAG")


def _edn_error(text: str, exc: Exception) -> tuple[int | None, str]:
    """The line and a readable message for an edn_format error (whose positions are character offsets)."""
    lines = _Lines(text)
    arg = exc.args[0] if exc.args else exc
    if hasattr(arg, "lexpos"):
        return lines.at(arg.lexpos), f"unexpected {arg.value!r}"
    message = str(arg)
    if message == "EOF Reached":
        return lines.last(), "the file ends inside a map, vector or list (a bracket is not closed)"
    if message.startswith("Even number of terms"):
        odd = _odd_map(text)
        return (lines.at(odd) if odd is not None else None), "a map with a key and no value"
    found = _LEXPOS.search(message)
    if found:
        return lines.at(int(found.group(1))), message.split(" with lexpos")[0]
    return None, message


def _tokens(text: str) -> list[Any]:
    lexer = edn_lex.lex(text)
    return list(iter(lexer.token, None))


def _walk(text: str) -> list[tuple[int, int, str]]:
    """Every element of every collection: ``(depth, offset, token type)``, depth 0 = top level.

    Tagged elements (``#inst "..."``) start at their tag; ``#_`` discards the next element.
    """
    out: list[tuple[int, int, str]] = []
    depth, discard, prefix = 0, [0], [None]
    for tok in _tokens(text):
        kind = tok.type
        if kind in _CLOSERS:
            depth -= 1
            discard.pop()
            prefix.pop()
            out.append((depth, tok.lexpos, kind))
            continue
        if kind == "DISCARD_TAG":
            discard[-1] += 1
            continue
        if kind in _PREFIXES:
            prefix[-1] = tok.lexpos if prefix[-1] is None else prefix[-1]
            continue
        start = prefix[-1] if prefix[-1] is not None else tok.lexpos
        prefix[-1] = None
        if discard[-1]:
            discard[-1] -= 1
        else:
            out.append((depth, start, kind))
        if kind in _OPENERS:
            depth += 1
            discard.append(0)
            prefix.append(None)
    return out


def _element_starts(text: str, depth: int) -> list[int]:
    """Offsets of the elements at ``depth`` (the op maps), in order."""
    return [offset for d, offset, kind in _walk(text) if d == depth and kind not in _CLOSERS]


def _odd_map(text: str) -> int | None:
    """Offset of the first map with an odd number of elements."""
    stack: list[tuple[str, int, int]] = []
    for depth, offset, kind in _walk(text):
        if kind in _CLOSERS:
            opener, start, count = stack.pop()
            if opener == "MAP_START" and count % 2:
                return start
            continue
        if stack and depth == len(stack):
            stack[-1] = (stack[-1][0], stack[-1][1], stack[-1][2] + 1)
        if kind in _OPENERS:
            stack.append((kind, offset, 0))
    return None


class _Lines:
    """Character offset -> line number."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._newlines: list[int] | None = None

    def at(self, offset: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, offset) + 1

    def last(self) -> int:
        return self.text.rstrip().count("\n") + 1


# ------------------------------------------------------------------------------------------------ JSON


def _looks_like_json(text: str) -> bool:
    try:
        orjson.loads(text)
        return True
    except orjson.JSONDecodeError:
        first = next(line for line in text.splitlines() if line.strip())
        try:
            return isinstance(orjson.loads(first), dict)
        except orjson.JSONDecodeError:
            return False


def _parse_json(text: str, name: str) -> tuple[list[dict[str, Any]], Callable[[int], int | None]]:
    if text.lstrip().startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise HistoryError(f"{name}:{exc.lineno}: not JSON: {exc.msg}") from None
        lines = _Lines(text)
        starts: list[int] | None = None

        def line_of(event: int) -> int | None:
            nonlocal starts
            if starts is None:
                starts = _json_element_starts(text)
            return lines.at(starts[event]) if event < len(starts) else None
    else:
        items, numbers = [], []
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise HistoryError(f"{name}:{lineno}: not JSON: {exc.msg}") from None
            numbers.append(lineno)

        def line_of(event: int) -> int | None:
            return numbers[event] if event < len(numbers) else None
    if not isinstance(items, list):
        raise HistoryError(f"{name}:1: expected a JSON array of ops or one op object per line")
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise HistoryError(_at(name, line_of(position), f"expected an op object, found {json.dumps(item)}"))
    return items, line_of


def _json_element_starts(text: str) -> list[int]:
    """Offsets of the elements of a JSON array (the standard library's decoder, element by element)."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    starts = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return starts
        starts.append(pos)
        _, pos = decoder.raw_decode(text, pos)


# --------------------------------------------------------------------------------------------- pairing


def _at(name: str, line: int | None, message: str) -> str:
    return f"{name}:{line}: {message}" if line else f"{name}: {message}"


def _name(value: Any) -> Any:
    """A keyword's name (``:ok`` -> ``ok``); anything else unchanged."""
    return value.name if isinstance(value, edn_format.Keyword) else value


def _pair(events: list[dict[str, Any]], name: str, fmt: str, line_of: Callable[[int], int | None]
          ) -> JepsenHistory:
    """Pair invokes with completions (Jepsen's rule) into ops, after checking every event's fields."""

    def fail(position: int, message: str) -> HistoryError:
        return HistoryError(_at(name, line_of(position), message))

    client: list[int] = []
    for position, event in enumerate(events):
        for field in ("process", "type"):
            if field not in event:
                raise fail(position, f"op has no :{field}")
        event["type"], event["process"] = _name(event["type"]), _name(event["process"])
        if event["process"] == NEMESIS:
            continue
        if event["type"] not in TYPES:
            raise fail(position, f"unknown :type {show(event['type'], fmt)} (expected invoke, ok, fail or info)")
        event["f"] = _name(event.get("f"))
        if event["f"] not in FUNCTIONS:
            raise fail(position, f":f {show(event['f'], fmt)} is not read, write, cas, acquire, release or txn")
        client.append(position)
    timed = _times(events, client, fail)
    indices = _indices(events)
    independent = bool(client) and all(_is_pair(events[p].get("value"))
                                       and (events[p]["f"] != "cas" or _is_pair(events[p]["value"][1]))
                                       and (events[p]["f"] != "txn" or (not _is_txn(events[p]["value"])
                                                                        and _is_txn(events[p]["value"][1])))
                                       for p in client)
    open_ops: dict[Any, int] = {}
    pairs: list[tuple[int, int | None]] = []
    for position in client:
        event = events[position]
        process = _hashable(event["process"])
        if event["type"] == INVOKE:
            if process in open_ops:
                raise fail(position, f"second invoke of process {show(event['process'], fmt)} while its invoke at "
                                     f"line {line_of(pairs[open_ops[process]][0])} has no completion")
            open_ops[process] = len(pairs)
            pairs.append((position, None))
            continue
        slot = open_ops.pop(process, None)
        if slot is None:
            raise fail(position, f"{event['type']} completion of process {show(event['process'], fmt)} has no "
                                 "open invoke")
        invoke = events[pairs[slot][0]]
        if invoke["f"] != event["f"]:
            raise fail(position, f"completion :f {event['f']} does not match its invoke's :f {invoke['f']}")
        pairs[slot] = (pairs[slot][0], position)
    ops = [_op(events, invoke, done, independent, timed, indices, fail, fmt) for invoke, done in pairs]
    nil_reads = sum(op.extra["nil_read"] + op.extra.get("nil_micro", 0) for op in ops)
    return JepsenHistory(name, fmt, ops, independent, timed, nil_reads, line_of)


def _times(events: list[dict[str, Any]], client: list[int], fail: Callable[[int, str], HistoryError]) -> bool:
    """True when every client event has a numeric :time; False when none has; else unreadable."""
    having = [p for p in client if "time" in events[p]]
    if having and len(having) != len(client):
        missing = next(p for p in client if "time" not in events[p])
        raise fail(missing, "op has no :time but others have one")
    for p in having:
        t = events[p]["time"]
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise fail(p, f":time must be a number (nanoseconds), found {t!r}")
    return bool(having)


def _indices(events: list[dict[str, Any]]) -> list[int]:
    """Each event's :index if all are distinct integers, else its position."""
    given = [e.get("index") for e in events]
    if all(isinstance(i, int) and not isinstance(i, bool) for i in given) and len(set(given)) == len(given):
        return given  # type: ignore[return-value]
    return list(range(len(events)))


_UNSHOWN = object()  # an op with no value to show


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def _is_txn(value: Any) -> bool:
    """Whether ``value`` looks like a txn's micro-ops (a list of ``[f k v]`` lists), not a ``[key txn]`` pair."""
    return isinstance(value, list) and all(isinstance(m, list) and len(m) == 3 for m in value)


def _micro_ops(value: Any, at: int, fail: Callable[[int, str], HistoryError], fmt: str) -> tuple[tuple[Any, ...], ...]:
    """A txn's value as ``(f, key, value)`` micro-ops, ``f`` ``read`` or ``write`` (keywords' names taken)."""
    if not _is_txn(value) or not value:
        raise fail(at, f"txn value must be a vector of [f k v] micro-ops, found {show(value, fmt)}")
    out = []
    for f, k, v in value:
        name = _MICRO_FUNCTIONS.get(_name(f))
        if name is None:
            raise fail(at, f"txn micro-op {show([f, k, v], fmt)}: f must be read or write (or r, w)")
        out.append((name, _hashable(_name(k)), v))
    return tuple(out)


def _op(events: list[dict[str, Any]], invoke_at: int, done_at: int | None, independent: bool, timed: bool,
        indices: list[int], fail: Callable[[int, str], HistoryError], fmt: str) -> Op:
    """One Jepsen op as the checker's Op (cas values become ``{"expected", "new"}``)."""
    invoke = events[invoke_at]
    done = events[done_at] if done_at is not None else None
    key, value = (invoke["value"][0], invoke["value"][1]) if independent else ("", invoke.get("value"))
    f = invoke["f"]
    result = None
    if done is not None and independent and _hashable(done["value"][0]) != _hashable(key):
        raise fail(done_at, f"completion is for key {show(done['value'][0], fmt)}, its invoke for {show(key, fmt)}")
    if f == "read" and done is not None:
        result = done["value"][1] if independent else done.get("value")
    elif f == "cas":
        if not _is_pair(value):
            raise fail(invoke_at, f"cas value must be [expected new], found {show(value, fmt)}")
        value = {"expected": value[0], "new": value[1]}
    elif f == "txn":
        value = _micro_ops(value, invoke_at, fail, fmt)
        if done is not None and done["type"] == OK:
            seen = _micro_ops(done["value"][1] if independent else done.get("value"), done_at, fail, fmt)
            if [m[:2] for m in seen] != [m[:2] for m in value]:
                raise fail(done_at, "completion's txn does not do what its invoke's does (the same micro-ops, "
                                    "f and key, in the same order)")
            value = seen
    start = invoke["time"] if timed else invoke_at
    end = (done["time"] if timed else done_at) if done is not None else None
    if end is not None and end < start:
        raise fail(done_at, f"completes at time {end}, before its invoke at {start}")
    kind = done["type"] if done is not None else INFO
    shown = ((invoke["value"][1] if independent else invoke.get("value")) if f != "read"
             else result if kind == OK else _UNSHOWN)  # shown only in counterexamples (JepsenHistory.shown)
    if f == "txn" and kind == OK:
        shown = done["value"][1] if independent else done.get("value")
    return Op(index=indices[invoke_at], process=invoke["process"], workload="", f=f,
              key=show(key, fmt) if independent else "", value=value, invoke_time=start, type=kind,
              complete_time=end, result=result,
              extra={"event": invoke_at, "nil_read": f == "read" and kind == OK and result is None, "shown": shown,
                     **({"nil_micro": sum(m[0] == "read" and m[2] is None for m in value)}
                        if f == "txn" and kind == OK else {})})
