"""What `stress run` takes: ``RunOptions``, its defaults, and the checks that refuse impossible runs."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.endpoint import BACKEND_KINDS, LOCAL_REGION
from harness.clients.outcome import CLIENT_KINDS
from harness.errors import UsageError
from harness.nemesis.spec import FaultSpec, parse_faults
from workloads import BUILTIN, DEFAULT_WORKLOADS, get_workload
from workloads.base import BURST, DEFAULT_PER_KEY, DEFAULT_SUSTAIN_S, PATTERNS, SUSTAINED

DEFAULT_WORKERS = 200
IN_PROCESS, RAY = "in-process", "ray"
EXECUTORS = (IN_PROCESS, RAY)
DEFAULT_SHARDS = 2


def sustained_workloads() -> list[str]:
    """The built-in workloads with a sustained pattern."""
    return [name for name, cls in BUILTIN.items() if cls.supports_sustained]


@dataclass
class RunOptions:
    """Everything `stress run` takes."""

    workloads: list[str] = field(default_factory=lambda: list(DEFAULT_WORKLOADS))
    workers: int | None = None  # burst: 200; sustained: keys × per_key (set in __post_init__)
    keys: int = 20
    rounds: int | None = None
    duration: float | None = None
    rate: float | None = None
    seed: int | None = None
    retries: int = 0
    timeout: float = 10.0
    backend: str = "local"
    client: str = "auto"
    unsafe: bool = False
    faults: list[str] = field(default_factory=list)
    persist: bool = False
    table: str | None = None
    allow_existing_table: bool = False
    endpoint_url: str | None = None
    region: str | None = None
    local_jar: str | None = None
    reports_dir: Path = Path("reports")
    processes: int = 1  # OS processes the workers of every race are spread over (harness.engine.processes)
    pattern: str = BURST
    per_key: int = DEFAULT_PER_KEY
    executor: str = IN_PROCESS  # where races run: this machine (--processes) or Ray actors (--shards)
    shards: int | None = None  # Ray actors the workers are spread over (--executor ray; default DEFAULT_SHARDS)
    ray_address: str | None = None  # auto, ray://HOST:PORT, HOST:PORT, local (default: a private local Ray)

    def __post_init__(self) -> None:
        self._workers_given = self.workers is not None
        if self.workers is None:
            self.workers = self.keys * self.per_key if self.pattern == SUSTAINED else DEFAULT_WORKERS

    def sustain_s(self) -> float:
        """How long each sustained round loops: --duration, else ``DEFAULT_SUSTAIN_S``."""
        return self.duration or DEFAULT_SUSTAIN_S

    def validate(self) -> None:
        """Reject impossible values, and options that would do nothing on the chosen backend, with one-line
        UsageErrors."""
        checks: list[tuple[bool, str]] = [
            # --keys and --per-key first: under --pattern sustained they make --workers, so theirs is the message.
            (self.keys >= 1, f"--keys must be at least 1 (got {self.keys})"),
            (self.per_key >= 1, f"--per-key must be at least 1 (got {self.per_key})"),
            (self.workers >= 1, f"--workers must be at least 1 (got {self.workers})"),
            (self.rounds is None or self.rounds >= 1, f"--rounds must be at least 1 (got {self.rounds})"),
            (self.duration is None or self.duration > 0, f"--duration must be positive (got {self.duration})"),
            (self.rate is None or self.rate > 0, f"--rate must be a positive number of ops/s (got {self.rate})"),
            (self.retries >= 0, f"--retries cannot be negative (got {self.retries})"),
            (self.timeout > 0, f"--timeout must be positive (got {self.timeout})"),
            (bool(self.workloads), "no workload selected"),
            (self.processes >= 1, f"--processes must be at least 1 (got {self.processes})"),
            (self.processes <= self.workers,
             f"--processes {self.processes} is more than --workers {self.workers}: every process needs a worker"),
            (self.client in (*CLIENT_KINDS, "auto"),
             f"unknown client {self.client!r}: choose one of auto, {', '.join(CLIENT_KINDS)}"),
            (self.backend in BACKEND_KINDS,
             f"unknown backend {self.backend!r}: choose one of {', '.join(BACKEND_KINDS)}"),
            (self.pattern in PATTERNS, f"unknown pattern {self.pattern!r}: choose one of {', '.join(PATTERNS)}"),
            (self.pattern == SUSTAINED or self.per_key == DEFAULT_PER_KEY,
             "--per-key applies to --pattern sustained (a burst races every worker on each key)"),
            (self.pattern != SUSTAINED or not self._workers_given or self.workers == self.keys * self.per_key,
             "--pattern sustained runs --per-key workers on each of --keys keys: drop --workers "
             f"(this run would have {self.keys} × {self.per_key} = {self.keys * self.per_key})"),
        ]
        ray = self.executor == RAY
        checks += [
            (self.executor in EXECUTORS, f"unknown executor {self.executor!r}: choose one of {', '.join(EXECUTORS)}"),
            (self.shards is None or ray, "--shards applies to --executor ray (on one machine use --processes)"),
            (self.ray_address is None or ray, "--ray-address applies to --executor ray"),
            (not ray or self.processes == 1, "--processes applies to the in-process executor: with --executor ray "
                                             "use --shards"),
            (not ray or self.shard_count() >= 1, f"--shards must be at least 1 (got {self.shards})"),
            (not ray or self.shard_count() <= self.workers,
             f"--shards {self.shard_count()} is more than --workers {self.workers}: every shard needs a worker"),
            (not ray or _valid_ray_address(self.ray_address),
             f"--ray-address {self.ray_address!r}: use auto, local, ray://HOST:PORT or HOST:PORT"),
            (not ray or importlib.util.find_spec("ray") is not None,
             "--executor ray needs Ray, which is not installed: pip install 'ddb-stress[ray]'"),
        ]
        # --endpoint-url with the default backend means that endpoint (as backends.open_backend decides).
        backend = "endpoint" if self.endpoint_url and self.backend == "local" else self.backend
        # Options that would be silently ignored by this backend: refused, so nobody believes they took effect.
        checks += [
            (self.local_jar is None or backend == "local",
             f"--local-jar only applies to --backend local (the managed DynamoDB Local), not {backend}"),
            (not self.persist or backend == "local",
             f"--persist only applies to --backend local (the managed DynamoDB Local), not {backend}"),
            (self.region is None or backend not in ("local", "moto", "dynalite"),
             f"--region does not apply to --backend {backend}: the managed server runs in {LOCAL_REGION}"),
            (self.endpoint_url is None or self.backend not in ("moto", "dynalite"),
             f"--endpoint-url does not apply to --backend {self.backend} (the harness starts its own server): "
             f"drop --backend {self.backend} to race that endpoint"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        for name in self.workloads:
            cls = get_workload(name)
            if self.unsafe and not cls.supports_unsafe:
                raise UsageError(f"workload {name!r} has no --unsafe variant")
            if self.pattern == SUSTAINED and not cls.supports_sustained:
                raise UsageError(f"workload {name!r} has no sustained pattern (those that do: "
                                 f"{', '.join(sustained_workloads())})")
        try:
            specs = parse_faults(self.faults)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if any(spec.kind == "crash" for spec in specs) and backend != "local":
            raise UsageError("crash faults need the managed DynamoDB Local backend (--backend local)")
        if self.client == "prepared" and self.retries:
            raise UsageError("--retries needs --client sdk: the prepared client sends exactly one attempt")
        if self.table and not self.allow_existing_table:
            raise UsageError(f"--table {self.table} is an existing table: add --allow-existing-table to race in it "
                             "(only keys with this run's own prefix are written, and it is never deleted)")
        if self.unsafe and self.client == "prepared":
            raise UsageError("--unsafe needs --client sdk (its read-then-write goes through the SDK)")

    def shard_count(self) -> int:
        """Shards of --executor ray: --shards, else ``DEFAULT_SHARDS``."""
        return DEFAULT_SHARDS if self.shards is None else self.shards

    def client_kind(self) -> str:
        """``auto``: the prepared client (a real burst, server-bound numbers) unless the run needs the SDK's
        own behaviour: retries (``--retries``) or an unsafe read-then-write."""
        if self.client != "auto":
            return self.client
        return "sdk" if self.retries or self.unsafe else "prepared"

    def fault_specs(self) -> list[FaultSpec]:
        """The parsed --fault options."""
        return parse_faults(self.faults)


def ray_host_port(address: str) -> tuple[str, str]:
    """``HOST`` and ``PORT`` of a ``--ray-address [ray://]HOST:PORT``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host, port


def _valid_ray_address(address: str | None) -> bool:
    if address in (None, "auto", "local"):
        return True
    host, port = ray_host_port(address)
    return bool(host) and port.isdigit()
