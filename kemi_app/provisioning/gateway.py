"""Carrier gateways: where external calls go, tried in priority order (lowest number first)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kemi_app.policy.digest import ha1
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
    # Digest credentials for carriers that challenge outbound calls. The secret is never shown
    # by the API nor logged; with a realm it is stored as HA1 only, like agents' passwords.
    auth_username: str = ""
    auth_realm: str = ""  # "": whatever realm the challenge names
    auth_secret: str = ""  # HA1 = MD5(user:realm:password) when the realm is known, else the password
    auth_secret_is_ha1: bool = False

    def public(self) -> dict[str, object]:
        """What the API shows: everything but the password."""
        return {"id": self.id, "address": self.address, "priority": self.priority, "codecs": list(self.codecs),
                "auth_username": self.auth_username, "auth_realm": self.auth_realm,
                "record_calls": self.record_calls}

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
    f.flag("record_calls", False, description="record every outbound call that starts on this gateway"),
    f.Field("auth_username", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="digest user for carriers that challenge outbound calls"),
    f.Field("auth_password", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="digest password (stored as HA1 when auth_realm is set; never shown)", write_only=True),
    f.Field("auth_realm", _optional_text, {"type": "string", "maxLength": f.NAME_MAX}, "",
            description="only answer challenges of this realm; empty: any"),
))


def parse_gateway(gw_id: str, payload: object, current: Gateway | None = None) -> Gateway:
    """A full gateway from a JSON body. `current` lets an update keep the stored secret
    (never shown, so never sent back) while user and realm stay the same."""
    values = GATEWAY.parse(payload, gw_id)
    password, user, realm = values.pop("auth_password"), values["auth_username"], values["auth_realm"]
    if password:
        secret, is_ha1 = (ha1(user, realm, password), True) if realm else (password, False)
    elif current is not None and (user, realm) == (current.auth_username, current.auth_realm):
        secret, is_ha1 = current.auth_secret, current.auth_secret_is_ha1
    else:
        secret, is_ha1 = "", False
    gateway = Gateway(**values, auth_secret=secret, auth_secret_is_ha1=is_ha1)
    if bool(gateway.auth_username) != bool(gateway.auth_secret):
        raise ValidationError("auth_password" if gateway.auth_username else "auth_username",
                              "auth_username and auth_password go together")
    return gateway
