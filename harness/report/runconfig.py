"""The run's configuration as the report shows it, and the `stress run` command line that repeats the run.

The command is rebuilt from run.json's ``config`` (the options as the run resolved them, seed
included), not copied from run.json's ``command``: that is the argv as typed, which lacks the seed
when none was given, and so does not repeat the run.
"""

from __future__ import annotations

import shlex
from typing import Any

# `stress run` options that say where results go or how they are shown, not what is raced.
NOT_REPRODUCED = frozenset({"repeat", "yes", "reports_dir", "json_output"})
# Stated even at their default: the seed is what makes the run repeatable, the backend is what it ran
# on, and workers and keys are the shape of every race (left out, a change of their defaults in a later
# version would silently change the race).
ALWAYS_STATED = frozenset({"workers", "keys", "seed", "backend"})
# `stress run` parameter name -> run.json config key, where the two differ.
CONFIG_KEYS = {"workload": "workloads", "fault": "faults"}


def _run_params() -> list[Any]:
    """The click parameters of `stress run`, so the command uses exactly its flags and defaults."""
    import typer.main

    from harness.cli.app import app  # imported here: the CLI imports the report lazily, keep it one-way

    return list(typer.main.get_command(app).commands["run"].params)


def _workload_class(spec: str) -> Any:
    """The workload class of a spec, or None when it cannot be imported (a user's module:Class)."""
    from workloads import get_workload

    try:
        return get_workload(spec)
    except Exception:  # a user's module may be missing here: then its defaults are unknown
        return None


def _rounds_option(config: dict[str, Any]) -> int | None:
    """The ``--rounds`` value behind run.json's per-workload rounds; None when every workload ran its own default.

    `stress run --rounds N` gives every workload N rounds; without it each runs its default
    (role-update 3, the others 1). Rounds that are neither (defaults changed since the run) cannot
    be given on the command line: None too.
    """
    rounds = config.get("rounds")
    if not isinstance(rounds, dict):
        return rounds if isinstance(rounds, int) else None
    defaults: dict[str, int | None] = {}
    for spec in config.get("workloads") or []:
        cls = _workload_class(str(spec))
        if cls is not None:
            defaults[cls.name] = cls.default_rounds
    if all(defaults.get(name) == value for name, value in rounds.items()):
        return None
    values = set(rounds.values())
    return values.pop() if len(values) == 1 else None


def _config_value(name: str, config: dict[str, Any]) -> Any:
    """The value of `stress run` parameter ``name`` in ``config``, in the parameter's own terms."""
    if name == "rounds":
        return _rounds_option(config)
    value = config.get(CONFIG_KEYS.get(name, name))
    if name == "workload" and value is not None:
        return [str(v) for v in value]
    if name == "fault":
        return [str(v) for v in value or []]
    return value


def _default(param: Any) -> Any:
    if param.name == "workload":
        from workloads import DEFAULT_WORKLOADS

        return list(DEFAULT_WORKLOADS)
    if param.multiple:
        return []
    return param.default


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _flags(param: Any, value: Any) -> list[str]:
    """The command-line words that set ``param`` to ``value``."""
    if getattr(param, "is_flag", False):
        if value:
            return [param.opts[0]]
        return [param.secondary_opts[0]] if param.secondary_opts else []
    if param.multiple:
        return [word for item in value for word in (param.opts[0], _text(item))]
    return [param.opts[0], _text(value)]


def reproduce_args(config: dict[str, Any]) -> list[str]:
    """``stress run`` plus every option of ``config`` that differs from its default, and always the
    ``ALWAYS_STATED`` ones (workers, keys, seed, backend); options run.json does not record are left out."""
    args = ["stress", "run"]
    for param in _run_params():
        if param.name in NOT_REPRODUCED or CONFIG_KEYS.get(param.name, param.name) not in config:
            continue
        if param.name == "workers" and config.get("pattern") == "sustained":
            continue  # keys × per-key: --workers is refused with --pattern sustained
        value = _config_value(param.name, config)
        if value is None or (value == _default(param) and param.name not in ALWAYS_STATED):
            continue
        args += _flags(param, value)
    return args


def reproduce_command(config: dict[str, Any]) -> str:
    """``reproduce_args`` as one shell-quoted line."""
    return shlex.join(reproduce_args(config))


def _seconds(value: Any, none: str) -> str:
    return none if value is None else f"{_text(value)} s"


def _rounds_text(rounds: Any) -> str:
    if isinstance(rounds, dict):
        return ", ".join(f"{name} {count}" for name, count in rounds.items()) or "–"
    return "workload default" if rounds is None else str(rounds)


def _client_text(run: dict[str, Any], config: dict[str, Any]) -> str:
    """The client kind the run used, and what was asked for when that differs (``auto``)."""
    used, asked = run.get("client_kind"), config.get("client")
    if used and asked and used != asked:
        return f"{used} (--client {asked})"
    return str(used or asked or "?")


def _backend_text(run: dict[str, Any], verdict: dict[str, Any]) -> str:
    backend = run.get("backend") or verdict.get("backend") or {}
    parts = [str(backend.get("kind") or "?"), str(backend.get("version") or "version ?")]
    where = backend.get("endpoint") or backend.get("region")
    if where:
        parts.append(f"at {where}")
    return " · ".join(parts)


def config_items(run: dict[str, Any], verdict: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the run's configuration, in the order the report shows them."""
    config = run.get("config") or {}
    items = [
        ("workloads", ", ".join(str(w) for w in config.get("workloads") or []) or "?"),
        ("workers", _text(config.get("workers", "?"))),
        ("keys", _text(config.get("keys", "?"))),
        ("rounds", _rounds_text(config.get("rounds"))),
        ("seed", _text(config.get("seed", "?"))),
        ("retries", _text(config.get("retries", "?"))),
        ("timeout", _seconds(config.get("timeout"), "?")),
        ("rate", "unlimited" if config.get("rate") is None else f"{_text(config['rate'])} ops/s"),
        ("duration", _seconds(config.get("duration"), "all rounds")),
        ("faults", ", ".join(str(f) for f in config.get("faults") or []) or "none"),
        ("client", _client_text(run, config)),
        ("backend", _backend_text(run, verdict)),
    ]
    if config.get("processes", 1) != 1:
        items.append(("processes", _text(config["processes"])))
    if config.get("unsafe"):
        items.append(("unsafe", "naive read-then-write variant (a negative control)"))
    if config.get("pattern") == "sustained":
        items.append(("pattern", f"sustained: {_text(config.get('per_key', '?'))} workers looping on each key"))
    return items
