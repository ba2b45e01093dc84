"""Companies inside an org: the settings that decide what their agents may dial."""

from __future__ import annotations

from dataclasses import dataclass, field

from kemi_app.policy import validation as v

DEFAULT_COUNTRY = "55"  # Brazil
DEFAULT_EMERGENCY = ("190", "192", "193")  # police, ambulance, fire brigade


def country_code(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or not 1 <= len(value) <= 3:
        raise v.ValidationError(name, "must be a country calling code of 1-3 digits, e.g. \"55\"")
    if value.startswith("0"):
        raise v.ValidationError(name, "a country calling code never starts with 0")
    return value


def emergency_number(value: object, name: str) -> str:
    return v.digits(value, name, (2, 3, 4, 5, 6))


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    block_calls_during_pause: bool = False
    allowed_country_codes: list[str] = field(default_factory=lambda: [DEFAULT_COUNTRY])
    default_country: str = DEFAULT_COUNTRY
    emergency_numbers: list[str] = field(default_factory=lambda: list(DEFAULT_EMERGENCY))


# What an agent without a company (or whose company vanished) gets: the documented defaults.
DEFAULT_COMPANY = Company(id="", name="default")


def parse_company(company_id: str, payload: object) -> Company:
    data = v.obj(payload)
    v.reject_unknown(data, {"id", "name", "block_calls_during_pause", "allowed_country_codes",
                            "default_country", "emergency_numbers"})
    if data.get("id", company_id) != company_id:
        raise v.ValidationError("id", "does not match the path")
    return Company(
        id=v.identifier(company_id, "id"),
        name=v.text(data.get("name"), "name", default=company_id),
        block_calls_during_pause=v.boolean(data.get("block_calls_during_pause"), "block_calls_during_pause", False),
        allowed_country_codes=v.string_list(
            data.get("allowed_country_codes"), "allowed_country_codes", country_code, [DEFAULT_COUNTRY], True
        ),
        default_country=country_code(data.get("default_country", DEFAULT_COUNTRY), "default_country"),
        emergency_numbers=v.string_list(
            data.get("emergency_numbers"), "emergency_numbers", emergency_number, list(DEFAULT_EMERGENCY), True
        ),
    )
