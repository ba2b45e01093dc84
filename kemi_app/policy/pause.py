"""Pauses, the company's pause types, and the rule that refuses an agent's new calls while
paused."""

from __future__ import annotations

from dataclasses import dataclass

PAUSE_HEADER = "X-Edge-Pause"
FREE_PAUSE = "Pause"  # the name `*40` pauses with in a company that configured no pause types


@dataclass(frozen=True)
class PauseType:
    """One of a company's pauses: `*40<code>` chooses it; a pause that does not block lets the
    agent call out even in a company that blocks calls during pause."""

    code: str  # one digit
    name: str
    blocks_calls: bool = True


@dataclass(frozen=True)
class AgentStatus:
    """What the agent (or a supervisor) chose: available, or paused with a name."""

    paused: bool = False
    pause: str = ""
    since: float = 0.0  # when it last changed
    blocks: bool = True  # the pause type's setting when paused (statuses stored before pause types: True)


def pause_by_code(types: list[PauseType], code: str) -> PauseType | None:
    """The pause `*40<code>` chooses: no digit means the company's first type, or a free pause
    named FREE_PAUSE when the company configured none."""
    if not code:
        return types[0] if types else PauseType("", FREE_PAUSE)
    return next((t for t in types if t.code == code), None)


def pause_by_name(types: list[PauseType], name: str) -> PauseType | None:
    """A company with pause types accepts only those names; one without any (as before pause
    types existed) accepts any valid name, blocking."""
    if not types:
        return PauseType("", name)
    return next((t for t in types if t.name == name), None)


def paused_as(pause: PauseType, now: float) -> AgentStatus:
    return AgentStatus(paused=True, pause=pause.name, since=now, blocks=pause.blocks_calls)


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    headers: tuple[str, ...] = ()


def pause_refusal(status: AgentStatus, session_blocks: bool, emergency: bool) -> Refusal | None:
    """Refuse a new outgoing call of a paused agent whose login session blocks calls during
    pause, unless the pause type does not block. Emergency numbers always pass. In-dialog
    requests never reach this rule."""
    if not status.paused or not status.blocks or not session_blocks or emergency:
        return None
    return Refusal(403, f"Calls blocked during pause: {status.pause}", (f"{PAUSE_HEADER}: {status.pause}",))
