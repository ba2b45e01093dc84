"""DIDs: carrier numbers (E.164) that land on a service of an org (routed by inbound calls)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kemi_app.policy import validation as v
from kemi_app.policy.service import service_extension

E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")


@dataclass(frozen=True)
class Did:
    number: str
    org: str
    service: str


def e164(value: object, field_name: str = "number") -> str:
    if not isinstance(value, str) or not E164_RE.match(value):
        raise v.ValidationError(field_name, "must be an E.164 number: '+', country code, 8 to 15 digits in all")
    return value


def parse_did(number: str, payload: object) -> Did:
    data = v.obj(payload)
    v.reject_unknown(data, {"number", "org", "service"})
    if data.get("number", number) != number:
        raise v.ValidationError("number", "does not match the path")
    return Did(number=e164(number), org=v.identifier(data.get("org"), "org"),
               service=service_extension(data.get("service"), "service"))
