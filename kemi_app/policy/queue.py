"""Which agent of a queue is offered the next call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueMember:
    """An agent of a queue as the queue sees it, loaded in one round trip."""

    ext: str
    registered: bool
    state: str  # available | paused | in-call | offline
    dnd: bool
    active_calls: int
    idle_since: float  # when the agent last became free; smaller = idle longer
    reserved: bool = False  # currently being offered another queue call


def offerable(member: QueueMember) -> bool:
    return (
        member.registered
        and member.state == "available"
        and not member.dnd
        and member.active_calls == 0
        and not member.reserved
    )


def offer_order(members: list[QueueMember], tried: frozenset[str] = frozenset()) -> list[str]:
    """Agents to offer the call to, longest idle first, skipping those already tried."""
    free = [m for m in members if offerable(m) and m.ext not in tried]
    return [m.ext for m in sorted(free, key=lambda m: (m.idle_since, m.ext))]


@dataclass(frozen=True)
class Overflow:
    status: int
    reason: str
    target_uri: str = ""  # where to send the call instead; empty: answer status/reason


def when_nobody_left(ivr_uri: str) -> Overflow:
    if ivr_uri:
        return Overflow(0, "", ivr_uri)
    return Overflow(480, "No Agent Available")


# Answers from an offered agent after which the next agent is tried.
RETRY_NEXT_AGENT = frozenset({408, 480, 486, 487, 600, 603})


def try_next_agent(status: int, caller_cancelled: bool) -> bool:
    """No answer (408), busy, declined or unavailable: move on, unless the caller hung up."""
    return not caller_cancelled and (status in RETRY_NEXT_AGENT or 500 <= status < 600)
