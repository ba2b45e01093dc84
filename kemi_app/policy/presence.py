"""An agent's presence, derived at read time from what is stored: the chosen status, live
bindings (they expire lazily, so offline is computed, never stored) and tracked calls."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.registration import Binding, live
from kemi_app.policy.session import LoginSession

STATES = ("available", "paused", "in-call", "offline")


@dataclass(frozen=True)
class Presence:
    ext: str
    state: str
    pause: str
    dnd: bool
    calls: int
    since: float | None
    seconds_in_state: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "ext": self.ext, "state": self.state, "pause": self.pause or None, "dnd": self.dnd,
            "calls": self.calls, "since": self.since, "seconds_in_state": self.seconds_in_state,
        }


def derive(
    ext: str, status: AgentStatus, dnd: bool, bindings: list[Binding], online_until: float,
    calls: dict[str, float], session: LoginSession | None, now: float,
) -> Presence:
    """in-call wins (a real call outlives a lapsed registration), then offline, then the
    chosen status. A paused agent keeps its pause name in every state."""
    since: float | None
    if calls:
        state, since = "in-call", min(calls.values())
    elif not live(bindings, now):
        state, since = "offline", (min(online_until, now) if online_until else None)
    else:
        state = "paused" if status.paused else "available"
        since = max(status.since, session.started_at if session else 0.0)
    return Presence(
        ext=ext, state=state, pause=status.pause if status.paused else "", dnd=dnd, calls=len(calls),
        since=since, seconds_in_state=None if since is None else round(max(0.0, now - since), 3),
    )
