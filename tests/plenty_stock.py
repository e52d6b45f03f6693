"""Inventory workloads with more units than buyers, for tests: every sale succeeds, so a decrement the SDK resends
after a lost response still finds stock left, and a non-idempotent resend sells a second unit."""

from __future__ import annotations

from workloads.inventory import Inventory
from workloads.inventory_idempotent import InventoryIdempotent

PLENTY = 1000  # far more than any test's buyers per item


class PlentyInventory(Inventory):
    """``inventory`` with PLENTY units per item."""

    name = "inventory-plenty"
    stock = PLENTY


class PlentyIdempotentInventory(InventoryIdempotent):
    """``inventory-idempotent`` with PLENTY units per item."""

    name = "inventory-idempotent-plenty"
    stock = PLENTY
