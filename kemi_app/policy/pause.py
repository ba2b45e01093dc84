"""Pauses, and the rule that refuses an agent's new calls while paused."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kemi_app.policy import validation as v

PAUSE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
PAUSE_HEADER = "X-Edge-Pause"


@dataclass(frozen=True)
class AgentStatus:
    """What the agent (or a supervisor) chose: available, or paused with a name."""

    paused: bool = False
    pause: str = ""
    since: float = 0.0  # when it last changed


def pause_name(value: object) -> str:
    # Goes into a SIP reason phrase and header verbatim: a safe, short token only.
    if not isinstance(value, str) or not PAUSE_NAME_RE.fullmatch(value):
        raise v.ValidationError("pause", "must be 1-32 characters: letters, digits, space, '.', '_' or '-'")
    return value


def parse_status(payload: object, now: float) -> AgentStatus:
    data = v.obj(payload)
    v.reject_unknown(data, {"status", "pause"})
    status = data.get("status")
    if status == "available":
        if data.get("pause") not in (None, ""):
            raise v.ValidationError("pause", "only a paused agent has a pause name")
        return AgentStatus(paused=False, since=now)
    if status == "paused":
        return AgentStatus(paused=True, pause=pause_name(data.get("pause")), since=now)
    raise v.ValidationError("status", "must be 'available' or 'paused'")


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
