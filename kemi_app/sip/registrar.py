"""REGISTER: authenticate, then apply the registrar policy to the bindings in Redis."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy.contacts import ContactError, parse_contact_headers
from kemi_app.policy.registration import Binding, RegisterOutcome, RegisterRequest, apply_register, live
from kemi_app.sip import connections
from kemi_app.sip.auth import authenticate
from kemi_app.sip.context import Context, header_values, pv, reply


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
    ext = authenticate(ctx, org)
    if ext is None:
        return
    try:
        wildcard, contacts = parse_contact_headers(header_values("Contact"))
        expires = _expires_header()
    except ContactError as e:
        _answer(org.id, 400, f"Bad Contact: {e}"[:120])
        return
    now = time.time()
    if not wildcard and not contacts:
        _reply_bindings(org.id, ctx.state.registrations.bindings(org.id, ext), now)
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
    before: list[Binding] = []

    def change(current: list[Binding]) -> RegisterOutcome:
        before[:] = live(current, now)
        return _timed_register(current, request)

    outcome = ctx.state.registrations.update_bindings(org.id, ext, change)
    if not outcome.ok:
        extra = (f"Min-Expires: {outcome.min_expires}",) if outcome.min_expires else ()
        _answer(org.id, outcome.status, outcome.reason, extra)
        return
    # A login (no registration before, new client session) snapshots the company's settings.
    company = ctx.state.lookups.company_for_agent(org.id, ext)
    ctx.state.agents.record_registration(org.id, ext, before, outcome.bindings, company, now)
    on_conn = [b.ttl(now) for b in outcome.bindings if b.received == request.received]
    if on_conn:
        connections.keep_registered(max(on_conn))
    if KSR.is_WSX() > 0 and on_conn:
        peer = f"{pv('$si')}:{pv('$sp')}"
        ctx.state.registrations.remember_connection(request.node, peer, org.id, ext, max(on_conn))
    _reply_bindings(org.id, outcome.bindings, now)


def _timed_register(current: list[Binding], request: RegisterRequest) -> RegisterOutcome:
    with metrics.policy_timer("register"):
        return apply_register(current, request)


def _answer(org_id: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    metrics.registration(org_id, status)
    reply(status, reason, headers)


def _reply_bindings(org_id: str, bindings: list[Binding], now: float) -> None:
    headers = tuple(f"Contact: <{b.contact}>;expires={b.ttl(now)}" for b in bindings)
    _answer(org_id, 200, "OK", headers)
