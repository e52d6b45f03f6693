"""Workloads: one module each; ``get_workload`` finds one by name or ``module:Class``."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

from harness.errors import UsageError
from workloads.base import Workload
from workloads.batch_load import BatchLoad, BatchLoadTx
from workloads.idempotent_registration import IdempotentRegistration
from workloads.inventory import Inventory
from workloads.inventory_idempotent import InventoryIdempotent
from workloads.lease_lock import LeaseLock
from workloads.registration import Registration
from workloads.role_update import RoleUpdate
from workloads.unique_email import UniqueEmail

BUILTIN: dict[str, type[Workload]] = {cls.name: cls for cls in (Registration, RoleUpdate, Inventory,
                                                           InventoryIdempotent, UniqueEmail, IdempotentRegistration,
                                                           BatchLoad, BatchLoadTx, LeaseLock)}
DEFAULT_WORKLOADS = ("registration", "role-update")


def get_workload(name: str) -> type[Workload]:
    """A built-in workload by name, or a user class given as ``package.module:ClassName``."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            with cwd_importable():
                module = importlib.import_module(module_name)
            cls = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise UsageError(f"cannot load workload {name!r}: {exc}{_where_hint(exc, module_name)}") from None
        if not (isinstance(cls, type) and issubclass(cls, Workload)):
            raise UsageError(f"{name!r} is not a subclass of workloads.base.Workload")
        return cls
    raise UsageError(f"unknown workload {name!r}: choose from {', '.join(BUILTIN)} or give module:Class")


def _where_hint(exc: Exception, module_name: str) -> str:
    """Where a missing workload module was looked for (not when the module itself lacks a dependency)."""
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing is None or not (module_name == missing or module_name.startswith(missing + ".")):
        return ""
    top = module_name.split(".")[0]
    return (f" (looked in the current directory and the installed packages: run from the directory that "
            f"contains {top!r}, or add that directory to PYTHONPATH)")


@contextlib.contextmanager
def cwd_importable() -> Iterator[None]:
    """Make the current directory importable for the duration of the block, as ``python -m`` and pytest do.

    The `stress` console script's sys.path starts at its own bin directory, not the cwd, so the README's
    `stress run --workload examples.custom_workload:CouponClaim`, typed in a checkout, could not find
    ``examples``. The entry is removed again afterwards: files in the user's cwd must not shadow later imports.
    """
    try:
        cwd = os.getcwd()
    except OSError:  # the cwd was deleted: nothing to add
        yield
        return
    if cwd in sys.path or "" in sys.path:  # "" is the cwd (python -c, the REPL)
        yield
        return
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)
