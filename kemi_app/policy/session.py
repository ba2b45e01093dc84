"""Login sessions: when one starts, and what it remembers from the company at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy.registration import Binding


@dataclass(frozen=True)
class LoginSession:
    started_at: float
    call_id: str  # REGISTER Call-ID of the client session that started it
    conn_id: int  # its TCP/WebSocket connection (0 for UDP)
    block_calls_during_pause: bool  # the company setting at login: later changes wait for the next login
    company: str = ""


def starts_session(before: list[Binding], after: list[Binding], last: LoginSession | None) -> Binding | None:
    """A session starts when an agent with no live registration registers from a new client
    session: a REGISTER Call-ID or a WebSocket/TCP connection other than the last session's.
    Returns the binding that starts it."""
    if before or not after:
        return None
    newest = max(after, key=lambda b: b.expires_at)
    if last is not None and newest.call_id == last.call_id and newest.conn_id == last.conn_id:
        return None  # the same client came back after its registration lapsed
    return newest
