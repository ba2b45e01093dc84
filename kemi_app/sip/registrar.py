"""REGISTER: authenticate, then apply the registrar policy to the bindings in Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import KSR

from kemi_app import metrics
from kemi_app.policy.contacts import ContactError, parse_contact_headers
from kemi_app.policy.registration import Binding, RegisterOutcome, RegisterRequest, apply_register, live
from kemi_app.policy.session import session_update
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.org import Org
from kemi_app.sip import connections
from kemi_app.sip.auth import check, has_credentials, recently_failed, stale, stale_nonce, verify
from kemi_app.sip.context import Context, header_values, pv, reply
from kemi_app.state.registrations import RegisterWrite, Registration, binding_json


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


# kamailio.cfg htable, per agent: its HA1 and bindings as this node last wrote them, shared by the
# workers. Never trusted alone: REFRESH_REGISTER checks both against Redis before writing, so a
# password change or removal takes effect on the next request.
CACHE_TABLE = "regs"


@dataclass(frozen=True)
class Cached:
    ha1: str
    registration: Registration


def handle_register(ctx: Context) -> None:
    org = ctx.state.lookups.org_by_domain(pv("$td"))
    if org is None:
        _answer("", 403, "Unknown Domain")
        return
    if not has_credentials(org):
        return
    user = pv("$au")
    now = time.time()
    cached = _cached(org.id, user)
    plan = None
    # A refresh skips the lockout read: only after a recent failure could it refuse this agent.
    if cached is not None and not recently_failed(ctx, org.id, user):
        plan = _refresh_plan(ctx, cached.registration, now)
    rc = None
    if cached is not None and plan is not None:
        rc = check(org.domain, cached.ha1)
        if rc > 0:
            _refresh(ctx, org, user, cached.ha1, plan, now)
            return
        if stale_nonce(org.domain, rc):  # e.g. a retransmission: nothing to read
            return
    # Credentials, the agent's registration and company: one round trip before the decision.
    view = ctx.state.registrations.register_view(org.id, user, pv("$si"), now)
    if cached is not None and rc is not None and view.auth.ha1 != cached.ha1:
        _forget(org.id, user)
        stale(org.domain)  # checked against an HA1 changed since: the nonce is spent, try again
        return
    ext = verify(ctx, org, user, view.auth, rc)
    if ext is not None and view.auth.ha1 is not None:
        _register(ctx, org, ext, view.auth.ha1, view.registration, (view.company_id, view.org_version), now)


def _key(org_id: str, ext: str) -> str:
    return f"{org_id}:{ext}"


def _cached(org_id: str, ext: str) -> Cached | None:
    raw = KSR.htable.sht_get(CACHE_TABLE, _key(org_id, ext))
    if not raw:
        return None
    ha1, *bindings = raw.split("\n")
    return Cached(ha1, Registration(dict(b.split("\t", 1) for b in bindings), None))


def _forget(org_id: str, ext: str) -> None:
    KSR.htable.sht_rm(CACHE_TABLE, _key(org_id, ext))


def _request(ctx: Context, now: float) -> RegisterRequest | None:
    """The REGISTER's bindings request; None for a query (no Contact). Raises ContactError."""
    wildcard, contacts = parse_contact_headers(header_values("Contact"))
    expires = _expires_header()
    if not wildcard and not contacts:
        return None
    return RegisterRequest(
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


def _decide(request: RegisterRequest, current: Registration, company: Callable[[list[Binding]], Company | None]
            ) -> RegisterWrite:
    """The registrar's and the session's decision on `current`; `company` is asked only for a login."""
    outcome = _timed_register(current.bindings, request)
    if not outcome.ok:
        return RegisterWrite(outcome)
    before = live(current.bindings, request.now)
    session = session_update(before, outcome.bindings, current.session, company(before), request.now)
    on_conn = _ttl_on_connection(outcome.bindings, request.received, request.now)
    peer = f"{pv('$si')}:{pv('$sp')}" if KSR.is_WSX() > 0 else ""
    connection = (request.node, peer, on_conn) if peer and on_conn else None
    return RegisterWrite(outcome, session, connection)


def _no_login(before: list[Binding]) -> Company | None:
    """A refresh's company lookup: a live binding before means no login, nothing to snapshot."""
    return None


def _refresh_plan(ctx: Context, current: Registration, now: float) -> tuple[Registration, RegisterWrite] | None:
    """A refresh of a registration this node wrote last and that is live: its decision, on the
    bindings as written then (REFRESH_REGISTER checks they still are). None: the regular path."""
    if not live(current.bindings, now):
        return None
    try:
        request = _request(ctx, now)
    except ContactError:
        return None  # answered on the regular path, once authenticated
    if request is None:
        return None
    write = _decide(request, current, _no_login)
    return (current, write) if write.outcome.ok else None


def _refresh(ctx: Context, org: Org, user: str, ha1: str, plan: tuple[Registration, RegisterWrite], now: float
             ) -> None:
    """Credentials verified against the cached `ha1`: checked against the stored one and written
    in one round trip."""
    current, write = plan
    done = ctx.state.registrations.refresh(org.id, user, current, write, ha1, now)
    if done.verdict == "stale":
        _forget(org.id, user)
        stale(org.domain)
    else:
        KSR.auth.consume_credentials()
        if done.verdict == "changed":
            _register(ctx, org, user, ha1, done.registration, (done.company_id, done.org_version), now)
        else:
            _registered(org.id, user, ha1, write.outcome, now)


def _register(ctx: Context, org: Org, ext: str, ha1: str, registration: Registration,
              company_at: tuple[str, str | None], now: float) -> None:
    """The authenticated REGISTER: the registrar policy on `registration`, written and answered.
    `company_at`: the agent's company and the org's version (None: not read)."""
    company_id, org_version = company_at
    try:
        request = _request(ctx, now)
    except ContactError as e:
        _answer(org.id, 400, f"Bad Contact: {e}"[:120])
        return
    if request is None:
        _reply_bindings(org.id, live(registration.bindings, now), now)
        return

    def company(before: list[Binding]) -> Company | None:
        """A login (no registration before, new client session) snapshots the company's
        settings; with a live binding before there is no login to look them up for."""
        if before:
            return None
        if org_version is None:  # not read (a binding was live then): read with the company
            return ctx.state.lookups.company_for_agent(org.id, ext)
        return ctx.state.lookups.company_of(org.id, company_id, org_version)

    # Bindings, session and WebSocket connection written together in the second round trip.
    outcome = ctx.state.registrations.register(
        org.id, ext, registration, lambda current: _decide(request, current, company)).outcome
    if not outcome.ok:
        extra = (f"Min-Expires: {outcome.min_expires}",) if outcome.min_expires else ()
        _answer(org.id, outcome.status, outcome.reason, extra)
        return
    _registered(org.id, ext, ha1, outcome, now)


def _registered(org_id: str, ext: str, ha1: str, outcome: RegisterOutcome, now: float) -> None:
    """Written: remembered for the next refresh, the connection kept, the bindings answered."""
    # The HA1, then a line per binding: its contact, a tab, its JSON (JSON escapes both).
    cached = "\n".join([ha1, *(f"{b.contact}\t{binding_json(b)}" for b in outcome.bindings)])
    KSR.htable.sht_sets(CACHE_TABLE, _key(org_id, ext), cached)
    on_conn = _ttl_on_connection(outcome.bindings, source_uri(), now)
    if on_conn:
        connections.keep_registered(on_conn)
    _reply_bindings(org_id, outcome.bindings, now)


def _ttl_on_connection(bindings: list[Binding], received: str, now: float) -> int:
    """The longest TTL of the bindings reached over the connection this REGISTER came on."""
    return max((b.ttl(now) for b in bindings if b.received == received), default=0)


def _timed_register(current: list[Binding], request: RegisterRequest) -> RegisterOutcome:
    with metrics.policy_timer("register"):
        return apply_register(current, request)


def _answer(org_id: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    metrics.registration(org_id, status)
    reply(status, reason, headers)


def _reply_bindings(org_id: str, bindings: list[Binding], now: float) -> None:
    headers = tuple(f"Contact: <{b.contact}>;expires={b.ttl(now)}" for b in bindings)
    _answer(org_id, 200, "OK", headers)
