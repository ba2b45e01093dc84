"""Feature codes: a dialled `*` and digits asks the edge to do something instead of placing a
call. The longest code in CODES that starts the digits wins; the digits after it are the
argument (a pause type's digit, an extension)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kemi_app.extensions import FEATURE_PREFIX, Shape, shape


class Feature(str, Enum):
    PAUSE = "pause"
    UNPAUSE = "unpause"
    DND_ON = "dnd-on"
    DND_OFF = "dnd-off"
    AUTO_ANSWER_ON = "auto-answer-on"
    AUTO_ANSWER_OFF = "auto-answer-off"


CODES: dict[str, Feature] = {
    "40": Feature.PAUSE,  # *40 or *40<pause type digit>
    "41": Feature.UNPAUSE,
    "42": Feature.DND_ON,
    "43": Feature.DND_OFF,
    "44": Feature.AUTO_ANSWER_ON,
    "45": Feature.AUTO_ANSWER_OFF,
}


@dataclass(frozen=True)
class FeatureRequest:
    feature: Feature
    argument: str = ""


def parse(dialled: str) -> FeatureRequest | None:
    """None when `dialled` is no feature code, or starts with no known code."""
    if shape(dialled) is not Shape.FEATURE:
        return None
    digits = dialled.removeprefix(FEATURE_PREFIX)
    for code in sorted(CODES, key=len, reverse=True):
        if digits.startswith(code):
            return FeatureRequest(CODES[code], digits[len(code):])
    return None
