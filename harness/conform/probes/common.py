"""Small helpers the probes share: DynamoDB JSON attribute values and keys."""

from __future__ import annotations

from typing import Any

from harness.conform.client import KEY


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def n(value: int | float) -> dict[str, str]:
    """A number attribute value."""
    return {"N": str(value)}


def key(value: str) -> dict[str, dict[str, str]]:
    """The key of item ``value``."""
    return {KEY: s(value)}


def item(pk: str, **attributes: dict[str, Any]) -> dict[str, Any]:
    """An item with key ``pk`` and the given attribute values."""
    return {KEY: s(pk), **attributes}


def number(found: dict[str, Any] | None, name: str) -> int | float | None:
    """The number attribute ``name`` of an item (an int when it is whole, so messages read "2", not "2.0"),
    or None."""
    value = (found or {}).get(name, {}).get("N")
    if value is None:
        return None
    parsed = float(value)
    return int(parsed) if parsed.is_integer() else parsed


def reason_codes(reasons: list[dict[str, Any]] | None) -> list[str | None]:
    """The ``Code`` of each cancellation reason (None where a reason has none)."""
    return [r.get("Code") for r in reasons or []]
