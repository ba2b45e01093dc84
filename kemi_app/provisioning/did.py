"""DIDs: carrier numbers (E.164) that land on a service of an org (routed by inbound calls)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kemi_app.extensions import SERVICE_LENGTHS
from kemi_app.provisioning import fields as f
from kemi_app.provisioning.errors import ValidationError

E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")


@dataclass(frozen=True)
class Did:
    number: str
    org: str
    service: str


def e164(value: object, field_name: str = "number") -> str:
    if not isinstance(value, str) or not E164_RE.match(value):
        raise ValidationError(field_name, "must be an E.164 number: '+', country code, 8 to 15 digits in all")
    return value


def optional_e164(value: object, field_name: str) -> str:
    return "" if value == "" else e164(value, field_name)


DID = f.Entity("Did", key=f.Field("number", e164, {"type": "string", "pattern": E164_RE.pattern}), fields=(
    f.identifier("org"),
    f.digits("service", SERVICE_LENGTHS, description="3-digit service extension"),
))


def parse_did(number: str, payload: object) -> Did:
    return Did(**DID.parse(payload, number))
