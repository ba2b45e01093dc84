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


_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}  # per entity class: (name, stored as it is)
_FLAGS = {"true": True, "false": False}  # most non-string values: no JSON parser needed


def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = tuple((f.name, f.type == "str") for f in fields(cls))
    return known


def decode(cls: type[T], data: dict[str, str], **keys: Any) -> T | None:
    """None for a missing hash. Fields absent from older records take the dataclass default."""
    if not data:
        return None
    values: dict[str, Any] = dict(keys)
    for name, as_is in _fields(cls):
        if name in data and name not in keys:
            raw = data[name]
            values[name] = raw if as_is else _FLAGS[raw] if raw in _FLAGS else json.loads(raw)
    return cls(**values)
