"""Workloads: one module each; ``get_workload`` finds one by name or ``module:Class``."""

from __future__ import annotations

import importlib

from harness.errors import UsageError
from workloads.base import Workload
from workloads.batch_load import BatchLoad, BatchLoadTx
from workloads.idempotent_registration import IdempotentRegistration
from workloads.inventory import Inventory
from workloads.registration import Registration
from workloads.role_update import RoleUpdate
from workloads.unique_email import UniqueEmail

BUILTIN: dict[str, type[Workload]] = {cls.name: cls for cls in (Registration, RoleUpdate, Inventory, UniqueEmail,
                                                           IdempotentRegistration, BatchLoad, BatchLoadTx)}
DEFAULT_WORKLOADS = ("registration", "role-update")


def get_workload(name: str) -> type[Workload]:
    """A built-in workload by name, or a user class given as ``package.module:ClassName``."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UsageError(f"cannot load workload {name!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Workload)):
            raise UsageError(f"{name!r} is not a subclass of workloads.base.Workload")
        return cls
    raise UsageError(f"unknown workload {name!r}: choose from {', '.join(BUILTIN)} or give module:Class")
