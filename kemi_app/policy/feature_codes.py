"""Feature codes: a dialled `*` + digits asks the edge itself for something.

The code is the digits after `*` that name a feature; the longest code that prefixes the
dialled digits wins, and the digits after it are the feature's argument (an extension).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Feature(str, Enum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


CODES: dict[str, Feature] = {
    "51": Feature.LISTEN,
    "52": Feature.WHISPER,
    "53": Feature.BARGE,
}


@dataclass(frozen=True)
class FeatureRequest:
    feature: Feature
    argument: str


def parse(dialled: str) -> FeatureRequest | None:
    """`*51` + `1002` -> listen to 1002; None when the string is no known feature code."""
    if not dialled.startswith("*"):
        return None
    digits = dialled[1:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    for code in sorted(CODES, key=len, reverse=True):
        if digits.startswith(code):
            return FeatureRequest(CODES[code], digits[len(code):])
    return None
