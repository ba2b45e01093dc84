"""Parsing of Contact header values (RFC 3261 section 20.10), for the registrar."""

from __future__ import annotations

from dataclasses import dataclass, field


class ContactError(ValueError):
    """The Contact header cannot be understood; the registrar answers 400."""


@dataclass(frozen=True)
class Contact:
    uri: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def expires(self) -> int | None:
        raw = self.params.get("expires")
        if raw is None:
            return None
        if not raw.isdigit():
            raise ContactError(f"bad expires parameter: {raw!r}")
        return int(raw)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes and angle brackets."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    escaped = False
    for ch in text:
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted or depth != 0:
        raise ContactError("unbalanced quotes or angle brackets")
    parts.append("".join(current))
    return parts


def _parse_params(raw: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in raw:
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return params


def parse_contact(value: str) -> Contact:
    value = value.strip()
    if "<" in value:
        start = value.index("<")
        end = value.find(">", start)
        if end < 0:
            raise ContactError("missing '>'")
        uri = value[start + 1 : end].strip()
        params = _parse_params(split_top_level(value[end + 1 :], ";"))
    else:
        # Without angle brackets every ';' parameter belongs to the header, not the URI.
        pieces = split_top_level(value, ";")
        uri = pieces[0].strip()
        params = _parse_params(pieces[1:])
    if not uri.lower().startswith(("sip:", "sips:")):
        raise ContactError(f"unsupported contact URI: {uri!r}")
    return Contact(uri=uri, params=params)


def parse_contact_headers(values: list[str]) -> tuple[bool, list[Contact]]:
    """Returns (is_wildcard, contacts) for the bodies of all Contact headers."""
    items = [item.strip() for value in values for item in split_top_level(value, ",")]
    items = [item for item in items if item]
    if items == ["*"]:
        return True, []
    if "*" in items:
        raise ContactError("'*' must be the only contact")
    return False, [parse_contact(item) for item in items]
