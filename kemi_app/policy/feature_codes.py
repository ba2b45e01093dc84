"""Feature codes: a dialled `*` + digits asks the edge itself for something.

The code is the digits after `*` that name a feature; the longest code that prefixes the
dialled digits wins, and the digits after it are the feature's argument (a pause type's
digit, an extension).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Feature(str, Enum):
    PAUSE = "pause"
    UNPAUSE = "unpause"
    DND_ON = "dnd-on"
    DND_OFF = "dnd-off"
    AUTO_ANSWER_ON = "auto-answer-on"
    AUTO_ANSWER_OFF = "auto-answer-off"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


CODES: dict[str, Feature] = {
    "40": Feature.PAUSE,  # *40 or *40<pause type digit>
    "41": Feature.UNPAUSE,
    "42": Feature.DND_ON,
    "43": Feature.DND_OFF,
    "44": Feature.AUTO_ANSWER_ON,
    "45": Feature.AUTO_ANSWER_OFF,
    "51": Feature.LISTEN,  # *51<ext>: listen to the agent's call
    "52": Feature.WHISPER,
    "53": Feature.BARGE,
}


@dataclass(frozen=True)
class FeatureRequest:
    feature: Feature
    argument: str


def parse(dialled: str) -> FeatureRequest | None:
    """`*40` + `2` -> pause with type 2, `*51` + `1002` -> listen to 1002; None when the string
    is no known feature code."""
    if not dialled.startswith("*"):
        return None
    digits = dialled[1:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    for code in sorted(CODES, key=len, reverse=True):
        if digits.startswith(code):
            return FeatureRequest(CODES[code], digits[len(code):])
    return None
