"""Whether an agent may be rung: the same rule for a direct call and a transfer to it."""

from __future__ import annotations

from kemi_app.policy.pause import Refusal


def callee_refusal(exists: bool, dnd: bool, registered: bool) -> Refusal | None:
    """A paused agent still takes calls dialled (or transferred) to it: pause keeps only
    queue offers away. Do-not-disturb refuses every call."""
    if not exists:
        return Refusal(404, "Extension Not Found")
    if dnd:
        return Refusal(486, "Do Not Disturb")
    if not registered:
        return Refusal(480, "Agent Not Registered")
    return None
