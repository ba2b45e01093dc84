"""Field checks shared by the provisioning entities: each failure names the offending field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
SIP_URI_RE = re.compile(r"^sips?:[^\s<>\"]{1,250}$")
NAME_MAX = 128


class ValidationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def obj(payload: object, field: str = "body") -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValidationError(field, "must be a JSON object")
    return payload


def reject_unknown(payload: Mapping[str, Any], known: set[str]) -> None:
    for key in payload:
        if key not in known:
            raise ValidationError(key, "unknown field")


def identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValidationError(field, "must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
    return value


def digits(value: object, field: str, lengths: tuple[int, ...]) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise ValidationError(field, f"must be a string of {wanted} digits")
    return value


def text(value: object, field: str, default: str | None = None, max_len: int = NAME_MAX) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValidationError(field, f"must be a non-empty string of at most {max_len} characters")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValidationError(field, "must not contain line breaks")
    return value.strip()


def boolean(value: object, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false")
    return value


def integer(value: object, field: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"must be an integer from {low} to {high}")
    return value


def domain(value: object, field: str) -> str:
    if not isinstance(value, str) or not DOMAIN_RE.match(value.lower()):
        raise ValidationError(field, "must be a DNS domain name")
    return value.lower()


def sip_uri(value: object, field: str, optional: bool = False) -> str:
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str) or not SIP_URI_RE.match(value):
        raise ValidationError(field, "must be a sip: or sips: URI")
    return value


def string_list(value: object, field: str, check, default: list[str], allow_empty: bool = False) -> list[str]:
    """A JSON list whose items each pass `check(item, 'field[i]')`; duplicates are dropped."""
    if value is None:
        return list(default)
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ValidationError(field, "must be a non-empty list" if not allow_empty else "must be a list")
    out: list[str] = []
    for i, item in enumerate(value):
        checked = check(item, f"{field}[{i}]")
        if checked not in out:
            out.append(checked)
    return out


class Conflict(Exception):
    """The write contradicts what is stored (HTTP 409)."""


class Missing(Exception):
    """A resource named in the path does not exist (HTTP 404)."""
