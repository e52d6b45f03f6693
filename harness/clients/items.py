"""Converting between DynamoDB's typed JSON (``{"S": "x"}``) and plain JSON values."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any


def _number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def plain_value(attr: dict[str, Any]) -> Any:
    """One AttributeValue as a plain JSON value (sets become sorted lists, binary becomes base64)."""
    (kind, raw), = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        return _number(raw)
    if kind in ("BOOL",):
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return plain_item(raw)
    if kind == "L":
        return [plain_value(v) for v in raw]
    if kind == "SS":
        return sorted(raw)
    if kind == "NS":
        return sorted(_number(v) for v in raw)
    if kind == "B":
        return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()
    if kind == "BS":
        return sorted(base64.b64encode(v).decode() for v in raw)
    raise ValueError(f"unknown attribute type {kind!r}")


def plain_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A whole item as plain JSON, or None."""
    if item is None:
        return None
    return {name: plain_value(attr) for name, attr in item.items()}


def typed_value(value: Any) -> dict[str, Any]:
    """A plain value as an AttributeValue (str, int/float, bool, None, dict, list)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": typed_item(value)}
    if isinstance(value, (list, tuple)):
        return {"L": [typed_value(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def typed_item(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item."""
    return {name: typed_value(value) for name, value in item.items()}
