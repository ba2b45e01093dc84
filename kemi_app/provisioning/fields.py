"""Declarations of provisioning fields: one object per field checks a JSON value and
describes it as JSON Schema, so validation and the OpenAPI document cannot drift apart."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kemi_app.provisioning.errors import ValidationError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
SIP_URI_RE = re.compile(r"^sips?:[^\s<>\"]{1,250}$")
NAME_MAX = 128

Check = Callable[[object, str], Any]  # (JSON value, field name) -> accepted value; raises ValidationError
# A default computed from the path key and the fields read before it (e.g. a name from the id).
Derived = Callable[[str, Mapping[str, Any]], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    name: str
    check: Check
    schema: Mapping[str, Any]  # JSON Schema of an accepted value
    default: Any = REQUIRED  # taken when the field is absent or null; REQUIRED: must be given
    derived: Derived | None = None  # a default that depends on the path and other fields
    description: str = ""
    write_only: bool = False

    def read(self, data: Mapping[str, Any], key: str, before: Mapping[str, Any]) -> Any:
        raw = data.get(self.name)
        if raw is not None or (self.default is REQUIRED and self.derived is None):
            return self.check(raw, self.name)  # a missing required value gets the check's own message
        if self.derived is not None:
            return self.derived(key, before)
        return copy.copy(self.default)

    def json_schema(self) -> dict[str, Any]:
        schema = dict(self.schema)
        if self.default is not REQUIRED and self.default not in ("", None):
            schema["default"] = self.default
        if self.description:
            schema["description"] = self.description
        if self.write_only:
            schema["writeOnly"] = True
        return schema


@dataclass(frozen=True)
class Entity:
    """A JSON object of `fields`; `key` is the field the request path names (its value may be
    repeated in the body, but must then match the path)."""

    name: str
    key: Field | None
    fields: tuple[Field, ...]

    def parse(self, payload: object, key: str = "") -> dict[str, Any]:
        data = obj(payload)
        names = [f.name for f in self.fields]
        if self.key is not None:
            names.insert(0, self.key.name)
        reject_unknown(data, set(names))
        values: dict[str, Any] = {}
        if self.key is not None:
            if data.get(self.key.name, key) != key:
                raise ValidationError(self.key.name, "does not match the path")
            values[self.key.name] = self.key.check(key, self.key.name)
        for f in self.fields:
            values[f.name] = f.read(data, key, values)
        return values

    def json_schema(self) -> dict[str, Any]:
        properties = {f.name: f.json_schema() for f in self.fields}
        if self.key is not None:
            properties[self.key.name] = {**self.key.json_schema(), "description": "optional: must match the path"}
        required = [f.name for f in self.fields if f.default is REQUIRED and f.derived is None]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema


# -- value checks --------------------------------------------------------------------------
def obj(payload: object, field: str = "body") -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValidationError(field, "must be a JSON object")
    return payload


def reject_unknown(payload: Mapping[str, Any], known: set[str]) -> None:
    for key in payload:
        if key not in known:
            raise ValidationError(key, "unknown field")


def check_identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValidationError(field, "must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
    return value


def check_digits(value: object, field: str, lengths: tuple[int, ...]) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise ValidationError(field, f"must be a string of {wanted} digits")
    return value


def check_text(value: object, field: str, max_len: int = NAME_MAX) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValidationError(field, f"must be a non-empty string of at most {max_len} characters")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValidationError(field, "must not contain line breaks")
    return value.strip()


def check_flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false")
    return value


def check_sip_uri(value: object, field: str) -> str:
    if not isinstance(value, str) or not SIP_URI_RE.match(value):
        raise ValidationError(field, "must be a sip: or sips: URI")
    return value


# -- field kinds ---------------------------------------------------------------------------
def text(name: str, default: Any = REQUIRED, derived: Derived | None = None, description: str = "") -> Field:
    return Field(name, check_text, {"type": "string", "minLength": 1, "maxLength": NAME_MAX}, default, derived,
                 description)


def flag(name: str, default: Any = REQUIRED, description: str = "") -> Field:
    return Field(name, check_flag, {"type": "boolean"}, default, description=description)


def integer(name: str, default: int, low: int, high: int, description: str = "") -> Field:
    def check(value: object, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(field, f"must be an integer from {low} to {high}")
        return value

    return Field(name, check, {"type": "integer", "minimum": low, "maximum": high}, default, description=description)


def identifier(name: str, optional: bool = False, description: str = "") -> Field:
    def check(value: object, field: str) -> str:
        return "" if optional and value == "" else check_identifier(value, field)

    return Field(name, check, {"type": "string", "pattern": ID_RE.pattern}, "" if optional else REQUIRED,
                 description=description)


def domain(name: str, description: str = "") -> Field:
    def check(value: object, field: str) -> str:
        if not isinstance(value, str) or not DOMAIN_RE.match(value.lower()):
            raise ValidationError(field, "must be a DNS domain name")
        return value.lower()

    return Field(name, check, {"type": "string", "maxLength": 253}, description=description)


def sip_uri(name: str, optional: bool = False, description: str = "") -> Field:
    def check(value: object, field: str) -> str:
        return "" if optional and value == "" else check_sip_uri(value, field)

    return Field(name, check, {"type": "string", "pattern": SIP_URI_RE.pattern}, "" if optional else REQUIRED,
                 description=description)


def digits(name: str, lengths: tuple[int, ...], description: str = "") -> Field:
    pattern = "^[0-9]{" + str(min(lengths)) + "," + str(max(lengths)) + "}$"
    return Field(name, lambda value, field: check_digits(value, field, lengths), {"type": "string", "pattern": pattern},
                 description=description)


def choice(name: str, options: tuple[str, ...], description: str = "") -> Field:
    def check(value: object, field: str) -> str:
        if value not in options:
            raise ValidationError(field, "must be one of " + ", ".join(options))
        return str(value)

    return Field(name, check, {"enum": list(options)}, description=description)


def items(name: str, item: Field, default: list[str], allow_empty: bool = False, description: str = "") -> Field:
    """A JSON list whose items each pass `item`'s check (as 'name[i]'); duplicates are dropped."""

    def check(value: object, field: str) -> list[Any]:
        if not isinstance(value, list) or (not value and not allow_empty):
            raise ValidationError(field, "must be a list" if allow_empty else "must be a non-empty list")
        out: list[Any] = []
        for i, raw in enumerate(value):
            checked = item.check(raw, f"{field}[{i}]")
            if checked not in out:
                out.append(checked)
        return out

    schema: dict[str, Any] = {"type": "array", "items": dict(item.schema), "uniqueItems": True}
    if not allow_empty:
        schema["minItems"] = 1
    return Field(name, check, schema, list(default), description=description)
