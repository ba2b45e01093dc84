"""Entities <-> Redis hashes: strings stored as they are (HA1 stays readable by auth), other
values as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def encode(entity: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in fields(entity):  # type: ignore[arg-type]
        value = getattr(entity, f.name)
        out[f.name] = value if f.type == "str" else json.dumps(value, default=_plain)
    return out


def _plain(value: object) -> object:
    """Entities nested in a field (a company's pause types) are stored as JSON objects."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def decode(cls: type[T], data: dict[str, str], **keys: Any) -> T | None:
    """None for a missing hash. Fields absent from older records take the dataclass default."""
    if not data:
        return None
    values: dict[str, Any] = dict(keys)
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data and f.name not in keys:
            raw = data[f.name]
            values[f.name] = raw if f.type == "str" else json.loads(raw)
    return cls(**values)
