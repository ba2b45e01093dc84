"""Normalising dialled external numbers to E.164, and the country authorisation check."""

from __future__ import annotations

from dataclasses import dataclass

E164_MAX_DIGITS = 15
E164_MIN_DIGITS = 8
NATIONAL_MIN_DIGITS = 6  # shorter strings are extensions, services or emergency numbers
VISUAL_SEPARATORS = str.maketrans("", "", "-.() ")
# National significant number lengths where we know them; others: anything E.164 allows.
NATIONAL_LENGTHS = {"55": (10, 11), "1": (10, 10)}


@dataclass(frozen=True)
class Normalised:
    e164: str = ""  # "+5511987654321" when ok
    status: int = 0  # else the SIP refusal
    reason: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.e164)


def _incomplete() -> Normalised:
    return Normalised(status=484, reason="Address Incomplete")


def _invalid() -> Normalised:
    return Normalised(status=404, reason="Invalid Number")


def _international(digits: str) -> Normalised:
    if digits.startswith("0"):
        return _invalid()
    if len(digits) < E164_MIN_DIGITS:
        return _incomplete()
    if len(digits) > E164_MAX_DIGITS:
        return _invalid()
    return Normalised(e164="+" + digits)


def normalise(dialled: str, default_country: str) -> Normalised:
    """`+CC...`, `00CC...` or a national number (optional trunk 0, area code, number) in the
    default country become `+CC...`. Visual separators (- . ( ) space) are ignored."""
    raw = dialled.translate(VISUAL_SEPARATORS)
    plus = raw.startswith("+")
    digits = raw[1:] if plus else raw
    if not digits or not (digits.isascii() and digits.isdigit()):
        return _invalid() if digits else _incomplete()
    if plus:
        return _international(digits)
    if digits.startswith("00"):
        return _international(digits[2:])
    national = digits[1:] if digits.startswith("0") else digits
    low, high = NATIONAL_LENGTHS.get(default_country, (NATIONAL_MIN_DIGITS, E164_MAX_DIGITS - len(default_country)))
    if len(national) < low:
        return _incomplete()
    if len(national) > high:
        return _invalid()
    return _international(default_country + national)


def country_allowed(e164: str, allowed: list[str]) -> bool:
    """Country calling codes are a prefix code (ITU E.164), so a prefix match is exact."""
    return any(e164[1:].startswith(code) for code in allowed)
