"""Login sessions: when one starts, and what it remembers from the company at that moment."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy.registration import Binding
from kemi_app.provisioning.company import Company


@dataclass(frozen=True)
class LoginSession:
    started_at: float
    call_id: str  # REGISTER Call-ID of the client session that started it
    conn_id: int  # its TCP/WebSocket connection (0 for UDP)
    block_calls_during_pause: bool  # the company setting at login: later changes wait for the next login
    company: str = ""
    auto_answer: bool | None = None  # the agent's choice for this session (*44 / *45); None: as provisioned


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


@dataclass(frozen=True)
class SessionUpdate:
    """What a successful REGISTER writes to the agent's session record."""

    online_until: float
    started: LoginSession | None = None  # a new login: replaces the last session


def session_update(
    before: list[Binding], after: list[Binding], last: LoginSession | None, company: Company | None, now: float
) -> SessionUpdate | None:
    """A new login (policy above) starts a session that snapshots the company's blocking
    setting; any REGISTER of an agent that was or is registered says until when it is online.
    None: an offline agent unregistering again changes nothing. `company` may be None when
    `before` has a binding (no login then: the caller need not look it up)."""
    if not before and not after:
        return None
    online_until = max((b.expires_at for b in after), default=now)
    new = starts_session(before, after, last)
    if new is None:
        return SessionUpdate(online_until)
    if company is None:
        raise ValueError("a login snapshots the company: look it up when no binding was live")
    return SessionUpdate(online_until, LoginSession(
        started_at=now, call_id=new.call_id, conn_id=new.conn_id,
        block_calls_during_pause=company.block_calls_during_pause, company=company.id,
    ))


def auto_answer(provisioned: bool, chosen: bool | None) -> bool:
    """Queue offers are answered by the phone itself as the agent chose for this login session
    (`chosen`, None when it did not choose), else as provisioned on the agent."""
    return provisioned if chosen is None else chosen
