"""Carrier gateways: where external calls go, tried in priority order (lowest number first)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kemi_app.provisioning import fields as f
from kemi_app.provisioning.errors import ValidationError

CODECS = ("PCMU", "PCMA", "G722", "G729", "opus", "telephone-event")
DEFAULT_CODECS = ["PCMU", "PCMA"]
ADDRESS_RE = re.compile(r"^(?:sip:)?(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Gateway:
    id: str
    address: str  # sip:host:port
    priority: int = 10
    codecs: list[str] = field(default_factory=lambda: list(DEFAULT_CODECS))
    record_calls: bool = False  # automatic recording rule of an outbound route (policy/recording.py)

    def uri_for(self, number: str) -> str:
        return f"sip:{number}@{self.address.removeprefix('sip:')}"


def _address(value: object, name: str) -> str:
    m = ADDRESS_RE.match(value) if isinstance(value, str) else None
    if m is None or not 1 <= int(m["port"]) <= 65535:
        raise ValidationError(name, "must be sip:host:port (or host:port), e.g. sip:10.0.0.5:5060")
    return f"sip:{m['host'].lower()}:{int(m['port'])}"


def _codec(value: object, name: str) -> str:
    for codec in CODECS:
        if isinstance(value, str) and value.lower() == codec.lower():
            return codec
    raise ValidationError(name, "must be one of " + ", ".join(CODECS))


GATEWAY = f.Entity("Gateway", key=f.identifier("id"), fields=(
    f.Field("address", _address, {"type": "string", "examples": ["sip:203.0.113.5:5060"]}),
    f.integer("priority", 10, 0, 1000, description="lowest is tried first"),
    f.items("codecs", f.Field("codec", _codec, {"enum": list(CODECS)}), DEFAULT_CODECS,
            description="the only codecs offered to this gateway"),
    f.flag("record_calls", False, description="record every outbound call that starts on this gateway"),
))


def parse_gateway(gw_id: str, payload: object) -> Gateway:
    return Gateway(**GATEWAY.parse(payload, gw_id))
