"""Pauses, and the rule that refuses an agent's new calls while paused."""

from __future__ import annotations

from dataclasses import dataclass

PAUSE_HEADER = "X-Edge-Pause"


@dataclass(frozen=True)
class AgentStatus:
    """What the agent (or a supervisor) chose: available, or paused with a name."""

    paused: bool = False
    pause: str = ""
    since: float = 0.0  # when it last changed


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    headers: tuple[str, ...] = ()


def pause_refusal(status: AgentStatus, session_blocks: bool, emergency: bool) -> Refusal | None:
    """Refuse a new outgoing call of a paused agent whose login session blocks calls during
    pause. Emergency numbers always pass. In-dialog requests never reach this rule."""
    if not status.paused or not session_blocks or emergency:
        return None
    return Refusal(403, f"Calls blocked during pause: {status.pause}", (f"{PAUSE_HEADER}: {status.pause}",))
