"""The models the linearizability checker knows, and the calls it checks: a :class:`Model` is a small class
(``init``, ``prepare``, ``step``, ``relax``) as in Porcupine; add one to :data:`MODELS` to check a new datatype."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any, NamedTuple

from harness.history.events import OK, Op

INF = float("inf")

# Call kinds the built-in models use (a custom model may add its own).
READ = "read"
WRITE = "write"
CAS = "cas"
ACQUIRE = "acquire"
RELEASE = "release"
TXN = "txn"


class Call(NamedTuple):
    """An op prepared for checking: hashable arguments, numeric times.

    ``arg`` is the value read, written or expected; ``new`` the value a cas writes.
    ``complete`` is +infinity for an op that may take effect at any time after its invoke.
    """

    index: int
    kind: str
    arg: Hashable
    new: Hashable
    invoke: int
    complete: float
    definite: bool


def _new_call(fields: tuple[Any, ...]) -> Call:
    return tuple.__new__(Call, fields)


class FrozenDict(tuple):
    """A dict frozen into a hashable, order-independent tuple of items."""

    __slots__ = ()


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Hashable:
    """A hashable, comparable form of a JSON-like value (dicts, lists and sets included)."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict):
        return FrozenDict(sorted((k, v if type(v) in _SCALARS else freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    return value


def make_call(op: Op, kind: str, arg: Hashable, new: Hashable = None) -> Call:
    """Build the :class:`Call` for ``op``: ``ok`` ops are definite, others open-ended."""
    complete = op.complete_time
    if op.type == OK and complete is not None:
        return _new_call((op.index, kind, arg, new, op.invoke_time, complete, True))
    return _new_call((op.index, kind, arg, new, op.invoke_time, INF, False))


class Model(ABC):
    """A sequential datatype: an initial state and a transition function.

    ``prepare`` turns an op into a :class:`Call` (or None when the op cannot constrain anything,
    e.g. an indeterminate read); ``step(state, call)`` returns ``(ok, new_state)``; ``relax``
    returns the call as if it had been indeterminate (None if it then constrains nothing).
    States must be hashable.
    """

    name = "model"

    def init(self, initial: Any) -> Hashable:
        """The initial state for a user-supplied initial value."""
        return freeze(initial)

    @abstractmethod
    def prepare(self, op: Op) -> Call | None:
        """The call to check for ``op`` (``fail`` ops never reach this)."""

    @abstractmethod
    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        """Apply ``call`` to ``state``: whether it is legal there, and the state after it."""

    def relax(self, call: Call) -> Call | None:
        """``call`` as an indeterminate op: may happen any time after its invoke, or never."""
        if call.kind == READ:
            return None
        return call._replace(complete=INF, definite=False)


class RegisterModel(Model):
    """A read/write register: ``write`` (invoke value) sets it, ``read`` (result) observes it.

    ``None`` stands for an absent item.
    """

    name = "register"

    def prepare(self, op: Op) -> Call | None:
        if op.f == WRITE:
            return make_call(op, WRITE, freeze(op.value))
        if op.f == READ:
            return make_call(op, READ, freeze(op.result)) if op.type == OK else None
        raise ValueError(f"model {self.name!r} cannot check op {op.index} with f={op.f!r}")

    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        kind = call.kind
        if kind == READ:
            return state == call.arg, state
        if kind == WRITE:
            return True, call.arg
        if kind == CAS:
            return (True, call.new) if state == call.arg else (False, state)
        raise ValueError(f"model {self.name!r} has no step for kind {kind!r}")


class CasRegisterModel(RegisterModel):
    """A register with compare-and-set.

    ``cas`` takes ``{"expected": e, "new": n}`` and, when it takes effect, needs state ``e`` and
    sets ``n``. ``register`` (a put conditioned on ``attribute_not_exists``) is a cas from
    ``None`` to the invoke value.
    """

    name = "cas-register"

    def prepare(self, op: Op) -> Call | None:
        if op.f == CAS:
            value = op.value if isinstance(op.value, dict) else {}
            if "expected" not in value or "new" not in value:
                raise ValueError(f"cas op {op.index} needs a value {{'expected': ..., 'new': ...}}")
            return make_call(op, CAS, freeze(value["expected"]), freeze(value["new"]))
        if op.f == "register":
            return make_call(op, CAS, None, freeze(op.value))
        return super().prepare(op)


class MutexModel(Model):
    """A lock, as Knossos's ``mutex``: ``acquire`` takes a free lock, ``release`` frees a held one.

    The state is whether the lock is held; it starts free. A history of a lock is linearizable when its
    ok acquires and releases (and some of its indeterminate ones) alternate, acquire first, in an order
    that respects real time: two clients never both held it.
    """

    name = "mutex"

    def init(self, initial: Any) -> Hashable:
        if initial not in (None, False):
            raise ValueError(f"model {self.name!r} starts free; it takes no initial value (got {initial!r})")
        return False

    def prepare(self, op: Op) -> Call | None:
        if op.f in (ACQUIRE, RELEASE):
            return make_call(op, op.f, None)
        raise ValueError(f"model {self.name!r} cannot check op {op.index} with f={op.f!r}")

    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        if call.kind == ACQUIRE:
            return not state, True
        if call.kind == RELEASE:
            return bool(state), False
        raise ValueError(f"model {self.name!r} has no step for kind {call.kind!r}")


class MultiRegisterModel(Model):
    """Registers named by keys, read and written by transactions, as Knossos's ``multi-register``: a ``txn``
    op's value is its micro-ops, each ``(READ, key, value)`` or ``(WRITE, key, value)``, applied in order at
    one instant; a read needs the key's value then.

    The state is every key's value (a key not in the initial map holds None). An ok txn's reads carry what it
    read; a txn that may not have happened (``info``) keeps its writes and the reads its value gives a value
    (Jepsen's invokes read nil: nothing to go by), as Knossos steps it, and a txn of reads alone is left out.
    An ok txn's reads of nil are left out before the model sees them unless ``--nil-read absent`` (see
    :mod:`harness.history.jepsen`).

    An ok txn relaxed (:meth:`relax`) keeps its reads, as a relaxed cas keeps its expected value: if it takes
    effect, it saw what it said. Dropping them instead made counterexamples unsound: the search's frontier
    (the first ok op it cannot get past, see ``search.Outcome``) holds because an op still running there is
    cut to its relaxed form, which must constrain what its ok form constrained. (A generated history's
    counterexample was a read of y = 2 whose only writer, a txn that also read a value never written, went
    free once its reads were dropped: linearizable.)
    """

    name = "multi-register"

    def init(self, initial: Any) -> Hashable:
        if initial is None:
            return _registers({})
        if not isinstance(initial, dict):
            raise ValueError(f"model {self.name!r} starts from a map of keys to values (got {initial!r})")
        return _registers({k: freeze(v) for k, v in initial.items()})

    def prepare(self, op: Op) -> Call | None:
        if op.f != TXN:
            raise ValueError(f"model {self.name!r} cannot check op {op.index} with f={op.f!r}")
        micro = tuple((f, k, freeze(v)) for f, k, v in op.value)
        if op.type != OK:
            if not any(m[0] == WRITE for m in micro):
                return None
            micro = tuple(m for m in micro if m[0] == WRITE or m[2] is not None)
        return make_call(op, TXN, micro)

    def step(self, state: Hashable, call: Call) -> tuple[bool, Hashable]:
        values = dict(state)
        changed = reordered = False
        for f, k, v in call.arg:
            if f == WRITE:
                if values.get(k) != v:
                    reordered = reordered or v is None or k not in values
                    values[k] = v
                    changed = True
            elif values.get(k) != v:
                return False, state
        # Building states was two thirds of the search's time on 1,000-op txn histories: the state itself when
        # nothing changed (a txn of reads, or writes of what was there), and the dict's own order (the state's:
        # a key's value replaced keeps its place) unless a key came or went: 2.1 s of CPU instead of 3.6 on three.
        if not changed:
            return True, state
        return True, _registers(values) if reordered else FrozenDict(values.items())

    def relax(self, call: Call) -> Call | None:
        if not any(m[0] == WRITE for m in call.arg):
            return None  # reads alone: if it may not happen, it constrains nothing
        return call._replace(complete=INF, definite=False)


def _registers(values: dict[Any, Hashable]) -> FrozenDict:
    """Every register's value as a state: keys in a fixed order (by repr: keys of mixed types do not sort),
    and a key holding None left out, so a key never written and one written None are the same state."""
    return FrozenDict(sorted(((k, v) for k, v in values.items() if v is not None), key=lambda kv: repr(kv[0])))


MODELS: dict[str, Model] = {
    RegisterModel.name: RegisterModel(),
    CasRegisterModel.name: CasRegisterModel(),
    MutexModel.name: MutexModel(),
    MultiRegisterModel.name: MultiRegisterModel(),
}


def get_model(model: str | Model) -> Model:
    """The model called ``model`` in :data:`MODELS` (or ``model`` itself if it is a Model)."""
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(sorted(MODELS))}") from None


def plain(value: Any) -> Any:
    """Frozen values back to plain JSON (for violation details)."""
    if isinstance(value, FrozenDict):
        return {k: plain(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((plain(v) for v in value), key=repr)
    return value


def show(value: Hashable) -> str:
    return repr(plain(value))
