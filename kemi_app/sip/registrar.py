"""REGISTER: authenticate, then apply the registrar policy to the bindings in Redis."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy.contacts import ContactError, parse_contact_headers
from kemi_app.policy.registration import Binding, RegisterOutcome, RegisterRequest, apply_register, live
from kemi_app.policy.session import session_update
from kemi_app.provisioning.company import Company
from kemi_app.sip import connections
from kemi_app.sip.auth import has_credentials, nonce_use, verify
from kemi_app.sip.context import Context, header_values, pv, reply
from kemi_app.state.registrations import RegisterWrite, Registration


def source_uri() -> str:
    """Where the REGISTER came from: the address used to reach the agent later."""
    return f"sip:{pv('$si')}:{pv('$sp')};transport={pv('$pr') or 'udp'}"


def local_socket() -> str:
    proto = pv("$pr").lower()
    proto = {"ws": "tcp", "wss": "tls"}.get(proto, proto or "udp")
    return f"{proto}:{pv('$Ri')}:{pv('$Rp')}"


def _expires_header() -> int | None:
    values = header_values("Expires")
    if not values:
        return None
    raw = values[0].strip()
    if not raw.isdigit():
        raise ContactError("bad Expires header")
    return int(raw)


def handle_register(ctx: Context) -> None:
    org = ctx.state.lookups.org_by_domain(pv("$td"))
    if org is None:
        _answer("", 403, "Unknown Domain")
        return
    if not has_credentials(org):
        return
    user = pv("$au")
    now = time.time()
    # Credentials, the agent's registration and company: one round trip before the decision.
    view = ctx.state.registrations.register_view(org.id, user, pv("$si"), nonce_use(), now)
    ext = verify(ctx, org, user, view.auth)
    if ext is None:
        return
    try:
        wildcard, contacts = parse_contact_headers(header_values("Contact"))
        expires = _expires_header()
    except ContactError as e:
        _answer(org.id, 400, f"Bad Contact: {e}"[:120])
        return
    if not wildcard and not contacts:
        _reply_bindings(org.id, live(view.registration.bindings, now), now)
        return
    request = RegisterRequest(
        wildcard=wildcard,
        contacts=contacts,
        expires_header=expires,
        call_id=pv("$ci"),
        cseq=int(pv("$cs") or 0),
        received=source_uri(),
        socket=local_socket(),
        node=ctx.settings.node_uri,
        user_agent=pv("$ua")[:128],
        conn_id=int(pv("$conid") or 0),
        now=now,
    )
    peer = f"{pv('$si')}:{pv('$sp')}" if KSR.is_WSX() > 0 else ""

    def company(before: list[Binding]) -> Company | None:
        """A login (no registration before, new client session) snapshots the company's
        settings; with a live binding before there is no login to look them up for."""
        if before:
            return None
        if view.org_version is None:  # not read (a binding was live then): read with the company
            return ctx.state.lookups.company_for_agent(org.id, ext)
        return ctx.state.lookups.company_of(org.id, view.company_id, view.org_version)

    def decide(current: Registration) -> RegisterWrite:
        outcome = _timed_register(current.bindings, request)
        if not outcome.ok:
            return RegisterWrite(outcome)
        before = live(current.bindings, now)
        session = session_update(before, outcome.bindings, current.session, company(before), now)
        on_conn = _ttl_on_connection(outcome.bindings, request)
        connection = (request.node, peer, on_conn) if peer and on_conn else None
        return RegisterWrite(outcome, session, connection)

    # Bindings, session and WebSocket connection written together in the second round trip.
    outcome = ctx.state.registrations.register(org.id, ext, view.registration, decide).outcome
    if not outcome.ok:
        extra = (f"Min-Expires: {outcome.min_expires}",) if outcome.min_expires else ()
        _answer(org.id, outcome.status, outcome.reason, extra)
        return
    on_conn = _ttl_on_connection(outcome.bindings, request)
    if on_conn:
        connections.keep_registered(on_conn)
    _reply_bindings(org.id, outcome.bindings, now)


def _ttl_on_connection(bindings: list[Binding], request: RegisterRequest) -> int:
    """The longest TTL of the bindings reached over the connection this REGISTER came on."""
    return max((b.ttl(request.now) for b in bindings if b.received == request.received), default=0)


def _timed_register(current: list[Binding], request: RegisterRequest) -> RegisterOutcome:
    with metrics.policy_timer("register"):
        return apply_register(current, request)


def _answer(org_id: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    metrics.registration(org_id, status)
    reply(status, reason, headers)


def _reply_bindings(org_id: str, bindings: list[Binding], now: float) -> None:
    headers = tuple(f"Contact: <{b.contact}>;expires={b.ttl(now)}" for b in bindings)
    _answer(org_id, 200, "OK", headers)
