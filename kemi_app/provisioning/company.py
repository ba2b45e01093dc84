"""Companies inside an org: the settings that decide what their agents may dial."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kemi_app.policy.pause import PauseType
from kemi_app.provisioning import fields as f
from kemi_app.provisioning.agent_state import PAUSE_TYPES
from kemi_app.provisioning.did import E164_RE, optional_e164
from kemi_app.provisioning.errors import ValidationError

DEFAULT_COUNTRY = "55"  # Brazil
DEFAULT_EMERGENCY = ("190", "192", "193")  # police, ambulance, fire brigade


def country_code(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or not 1 <= len(value) <= 3:
        raise ValidationError(name, "must be a country calling code of 1-3 digits, e.g. \"55\"")
    if value.startswith("0"):
        raise ValidationError(name, "a country calling code never starts with 0")
    return value


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    block_calls_during_pause: bool = False
    allowed_country_codes: list[str] = field(default_factory=lambda: [DEFAULT_COUNTRY])
    default_country: str = DEFAULT_COUNTRY
    emergency_numbers: list[str] = field(default_factory=lambda: list(DEFAULT_EMERGENCY))
    caller_id: str = ""  # the DID carriers see on its agents' outbound calls
    hide_caller_id: bool = False
    mask_customer_numbers: bool = False
    mask_visible_digits: int = 4
    pause_types: list[PauseType] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Read back from Redis (JSON), pause types arrive as plain objects.
        types: list[Any] = self.pause_types
        object.__setattr__(self, "pause_types", [t if isinstance(t, PauseType) else PauseType(**t) for t in types])


# What an agent without a company (or whose company vanished) gets: the documented defaults.
DEFAULT_COMPANY = Company(id="", name="default")

_COUNTRY = f.Field("country", country_code, {"type": "string", "pattern": "^[1-9][0-9]{0,2}$"}, DEFAULT_COUNTRY)
COMPANY = f.Entity("Company", key=f.identifier("id"), fields=(
    f.text("name", derived=lambda key, _: key, description="defaults to the company id"),
    f.flag("block_calls_during_pause", False, description="applies from each agent's next login"),
    f.items("allowed_country_codes", _COUNTRY, [DEFAULT_COUNTRY], allow_empty=True,
            description="country calling codes agents may call"),
    f.Field("default_country", country_code, _COUNTRY.schema, DEFAULT_COUNTRY,
            description="country of numbers dialled without one"),
    f.items("emergency_numbers", f.digits("emergency", (2, 3, 4, 5, 6)), list(DEFAULT_EMERGENCY), allow_empty=True,
            description="always allowed, even during a blocking pause"),
    f.Field("caller_id", optional_e164, {"type": "string", "pattern": E164_RE.pattern}, "",
            description="E.164 DID presented to carriers on outbound calls; none: anonymous"),
    f.flag("hide_caller_id", False, description="outbound calls ask the carrier to withhold it (Privacy: id)"),
    f.flag("mask_customer_numbers", False, description="agents see customers' numbers masked"),
    f.integer("mask_visible_digits", 4, 0, 8, description="last digits left visible when masking"),
    PAUSE_TYPES,
))


def parse_company(company_id: str, payload: object) -> Company:
    return Company(**COMPANY.parse(payload, company_id))
