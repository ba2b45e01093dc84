"""The dial plan: what a dialled string means inside an org."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DestKind(str, Enum):
    SERVICE = "service"  # 3 digits
    AGENT = "agent"  # 4 or 5 digits
    INVALID = "invalid"


@dataclass(frozen=True)
class Destination:
    kind: DestKind
    number: str
    status: int = 0  # for INVALID: the SIP answer
    reason: str = ""


def classify(dialled: str) -> Destination:
    if dialled.isdigit() and dialled.isascii():
        if len(dialled) == 3:
            return Destination(DestKind.SERVICE, dialled)
        if len(dialled) in (4, 5):
            return Destination(DestKind.AGENT, dialled)
    if not dialled:
        return Destination(DestKind.INVALID, dialled, 484, "Address Incomplete")
    return Destination(DestKind.INVALID, dialled, 404, "No Route For Number")
