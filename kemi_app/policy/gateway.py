"""Carrier gateways: where external calls go, tried in priority order (lowest number first)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kemi_app.policy import validation as v

CODECS = ("PCMU", "PCMA", "G722", "G729", "opus", "telephone-event")
ADDRESS_RE = re.compile(r"^(?:sip:)?(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Gateway:
    id: str
    address: str  # sip:host:port
    priority: int = 10
    codecs: list[str] = field(default_factory=lambda: ["PCMU", "PCMA"])

    def uri_for(self, number: str) -> str:
        return f"sip:{number}@{self.address.removeprefix('sip:')}"


def _address(value: object) -> str:
    m = ADDRESS_RE.match(value) if isinstance(value, str) else None
    if m is None or not 1 <= int(m["port"]) <= 65535:
        raise v.ValidationError("address", "must be sip:host:port (or host:port), e.g. sip:10.0.0.5:5060")
    return f"sip:{m['host'].lower()}:{int(m['port'])}"


def _codec(value: object, name: str) -> str:
    for codec in CODECS:
        if isinstance(value, str) and value.lower() == codec.lower():
            return codec
    raise v.ValidationError(name, "must be one of " + ", ".join(CODECS))


def parse_gateway(gw_id: str, payload: object) -> Gateway:
    data = v.obj(payload)
    v.reject_unknown(data, {"id", "address", "priority", "codecs"})
    if data.get("id", gw_id) != gw_id:
        raise v.ValidationError("id", "does not match the path")
    return Gateway(
        id=v.identifier(gw_id, "id"),
        address=_address(data.get("address")),
        priority=v.integer(data.get("priority"), "priority", 10, 0, 1000),
        codecs=v.string_list(data.get("codecs"), "codecs", _codec, ["PCMU", "PCMA"]),
    )


def in_order(gateways: list[Gateway]) -> list[Gateway]:
    return sorted(gateways, key=lambda g: (g.priority, g.id))


def fails_over(status: int) -> bool:
    """A gateway that errs (5xx) or never answers (408 from our own timer) gets replaced by the
    next one; any other final answer (busy, rejected, unknown number) is the callee's."""
    return status == 408 or 500 <= status <= 599
