"""Registrar rules: how a REGISTER changes an agent's set of bindings (RFC 3261 10.3)."""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy.contacts import Contact, ContactError

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
MAX_BINDINGS = 10


@dataclass(frozen=True)
class Binding:
    """Where an agent can be reached. `received` and `node` make it usable from any edge node."""

    contact: str
    received: str  # sip:ip:port;transport=x, the address the REGISTER came from
    socket: str  # proto:ip:port of the local socket on `node` that received it
    node: str  # sip URI of the edge node holding the connection
    expires_at: float
    call_id: str
    cseq: int
    user_agent: str = ""
    conn_id: int = 0  # TCP/WS connection id on `node` (0 for UDP)

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires_at - now))

    @property
    def on_websocket(self) -> bool:
        return self.received.endswith(("=ws", "=wss"))


@dataclass(frozen=True)
class RegisterRequest:
    wildcard: bool
    contacts: list[Contact]
    expires_header: int | None
    call_id: str
    cseq: int
    received: str
    socket: str
    node: str
    user_agent: str
    conn_id: int
    now: float


@dataclass(frozen=True)
class RegisterOutcome:
    status: int
    reason: str
    bindings: list[Binding]
    min_expires: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200


def live(bindings: list[Binding], now: float) -> list[Binding]:
    return [b for b in bindings if b.expires_at > now]


def _refuse(status: int, reason: str, current: list[Binding], min_expires: int = 0) -> RegisterOutcome:
    return RegisterOutcome(status, reason, current, min_expires)


def apply_register(current: list[Binding], req: RegisterRequest) -> RegisterOutcome:
    bindings = live(current, req.now)
    if req.wildcard:
        if req.expires_header != 0:
            return _refuse(400, "Wildcard Contact Needs Expires 0", bindings)
        return RegisterOutcome(200, "OK", [])
    by_contact = {b.contact: b for b in bindings}
    for contact in req.contacts:
        try:
            wanted = contact.expires
        except ContactError:
            return _refuse(400, "Bad Contact Expires", bindings)
        if wanted is None:
            wanted = req.expires_header if req.expires_header is not None else DEFAULT_EXPIRES
        old = by_contact.get(contact.uri)
        if old is not None and old.call_id == req.call_id and req.cseq < old.cseq:
            return _refuse(500, "Out Of Order CSeq", bindings)
        if wanted == 0:
            by_contact.pop(contact.uri, None)
            continue
        if wanted < MIN_EXPIRES:
            return _refuse(423, "Interval Too Brief", bindings, MIN_EXPIRES)
        by_contact[contact.uri] = Binding(
            contact=contact.uri,
            received=req.received,
            socket=req.socket,
            node=req.node,
            expires_at=req.now + min(wanted, MAX_EXPIRES),
            call_id=req.call_id,
            cseq=req.cseq,
            user_agent=req.user_agent,
            conn_id=req.conn_id,
        )
    kept = sorted(by_contact.values(), key=lambda b: b.expires_at, reverse=True)[:MAX_BINDINGS]
    return RegisterOutcome(200, "OK", kept)

