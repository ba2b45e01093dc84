"""The dial plan: what a dialled string means for an agent of a company in an org."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kemi_app.extensions import Shape, shape
from kemi_app.policy.number import country_allowed, normalise
from kemi_app.provisioning.company import Company


class DestKind(str, Enum):
    EMERGENCY = "emergency"  # the company's emergency numbers, sent to carriers as dialled
    SERVICE = "service"  # a service extension (kemi_app.extensions)
    AGENT = "agent"  # an agent extension
    FEATURE = "feature"  # `*` + digits (kemi_app.policy.feature_codes), handled by the edge itself
    EXTERNAL = "external"  # normalised to E.164, country authorised
    INVALID = "invalid"


@dataclass(frozen=True)
class Destination:
    kind: DestKind
    number: str
    status: int = 0  # for INVALID: the SIP answer
    reason: str = ""

    @property
    def to_carrier(self) -> bool:
        return self.kind in (DestKind.EMERGENCY, DestKind.EXTERNAL)


NOT_AUTHORISED = "International destination not authorised"


def classify(dialled: str, company: Company) -> Destination:
    """Emergency numbers win over the 3-digit service range they usually fall in."""
    if dialled in company.emergency_numbers:
        return Destination(DestKind.EMERGENCY, dialled)
    kind = shape(dialled)
    if kind is Shape.SERVICE:
        return Destination(DestKind.SERVICE, dialled)
    if kind is Shape.AGENT:
        return Destination(DestKind.AGENT, dialled)
    if kind is Shape.FEATURE:
        return Destination(DestKind.FEATURE, dialled)
    number = normalise(dialled, company.default_country)
    if not number.ok:
        return Destination(DestKind.INVALID, dialled, number.status, number.reason)
    if not country_allowed(number.e164, company.allowed_country_codes):
        return Destination(DestKind.INVALID, number.e164, 403, NOT_AUTHORISED)
    return Destination(DestKind.EXTERNAL, number.e164)
