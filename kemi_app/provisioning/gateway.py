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
    # Digest credentials for carriers that challenge outbound calls; the password is a secret:
    # stored, never shown by the API, never logged.
    auth_username: str = ""
    auth_password: str = ""
    auth_realm: str = ""  # "": whatever realm the challenge names

    def public(self) -> dict[str, object]:
        """What the API shows: everything but the password."""
        return {"id": self.id, "address": self.address, "priority": self.priority, "codecs": list(self.codecs),
                "auth_username": self.auth_username, "auth_realm": self.auth_realm}

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


def _optional_text(value: object, name: str) -> str:
    return "" if value == "" else f.check_text(value, name)


GATEWAY = f.Entity("Gateway", key=f.identifier("id"), fields=(
    f.Field("address", _address, {"type": "string", "examples": ["sip:203.0.113.5:5060"]}),
    f.integer("priority", 10, 0, 1000, description="lowest is tried first"),
    f.items("codecs", f.Field("codec", _codec, {"enum": list(CODECS)}), DEFAULT_CODECS,
            description="the only codecs offered to this gateway"),
    f.Field("auth_username", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="digest user for carriers that challenge outbound calls"),
    f.Field("auth_password", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="digest password (stored, never shown)", write_only=True),
    f.Field("auth_realm", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="only answer challenges of this realm; empty: any"),
))


def parse_gateway(gw_id: str, payload: object, current: Gateway | None = None) -> Gateway:
    """A full gateway from a JSON body. `current` lets an update keep the stored password
    (never shown, so never sent back) while the user stays the same."""
    values = GATEWAY.parse(payload, gw_id)
    if current is not None and not values["auth_password"] and values["auth_username"] == current.auth_username:
        values["auth_password"] = current.auth_password
    gateway = Gateway(**values)
    if bool(gateway.auth_username) != bool(gateway.auth_password):
        raise ValidationError("auth_password" if gateway.auth_username else "auth_username",
                              "auth_username and auth_password go together")
    return gateway
