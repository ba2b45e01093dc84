"""The dial-plan shape, declared once: 3 digits name a service, 4 or 5 digits an agent, `*` and
digits a feature request (kemi_app.policy.feature_codes).

Provisioning validates extensions with it, the dial plan classifies dialled strings with it,
and the state layer decides what to fetch for a dialled string with it.
"""

from __future__ import annotations

from enum import Enum

SERVICE_LENGTHS = (3,)
AGENT_LENGTHS = (4, 5)


class Shape(str, Enum):
    SERVICE = "service"
    AGENT = "agent"
    FEATURE = "feature"  # `*` + digits: the edge acts on it itself
    OTHER = "other"  # anything else: a number for the carriers, or nothing valid


def shape(dialled: str) -> Shape:
    if dialled.startswith("*") and dialled[1:].isascii() and dialled[1:].isdigit():
        return Shape.FEATURE
    if dialled.isascii() and dialled.isdigit():
        if len(dialled) in SERVICE_LENGTHS:
            return Shape.SERVICE
        if len(dialled) in AGENT_LENGTHS:
            return Shape.AGENT
    return Shape.OTHER


def is_agent_ext(value: str) -> bool:
    return shape(value) is Shape.AGENT


def is_service_ext(value: str) -> bool:
    return shape(value) is Shape.SERVICE
