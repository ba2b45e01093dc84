"""REGISTER: authenticate, then apply the registrar policy to the bindings in Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import KSR

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.policy.contacts import ContactError, parse_contact_headers
from kemi_app.policy.registration import Binding, RegisterOutcome, RegisterRequest, apply_register, live
from kemi_app.policy.session import session_update
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.org import Org
from kemi_app.sip import connections
from kemi_app.sip.auth import check, has_credentials, recently_failed, stale, stale_nonce, verify
from kemi_app.sip.context import Context, header_values, pv, reply
from kemi_app.state.registrations import RegisterWrite, Registration, binding_json, commit_call


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


# kamailio.cfg htable, per agent: its HA1 and bindings as this node last wrote them, each with what
# its next refresh from the same client needs. Never trusted alone: REFRESH_REGISTER checks the
# HA1 and the bindings against Redis before writing, so a password change or removal takes
# effect on the next request.
CACHE_TABLE = "regs"


class CachedBinding(NamedTuple):
    signature: str  # of the REGISTER that made it ('': unknown, its refresh takes the regular path)
    seconds: int  # what that REGISTER was granted
    contact: str
    binding: str  # JSON as stored


@dataclass(frozen=True)
class Cached:
    ha1: str
    bindings: list[CachedBinding]

    def text(self) -> str:
        """The HA1, then a line per binding: its fields tab-separated (none holds a tab or a newline)."""
        return "\n".join([self.ha1, *(f"{b.signature}\t{b.seconds}\t{b.contact}\t{b.binding}" for b in self.bindings)])


def _signature() -> str:
    """Everything a binding and the registrar's decision take from a REGISTER but its Call-ID,
    CSeq and time: a request with a cached binding's signature refreshes that binding, the same
    way. repr: unambiguous, and on one line without tabs."""
    return repr((header_values("Contact"), pv("$hdr(Expires)"), pv("$si"), pv("$sp"), pv("$pr"), pv("$Ri"),
                 pv("$Rp"), pv("$ua"), pv("$conid")))


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
    rc = None
    # A refresh skips the lockout read: only after a recent failure could it refuse this agent.
    if cached is not None and not recently_failed(ctx, org.id, user):
        # The same phone again: no decision to make. Anything else: decided on the cached bindings.
        quick = _refreshed(cached, now)
        plan = None if quick is not None else _refresh_plan(ctx, cached, now)
        if quick is not None or plan is not None:
            rc = check(org.domain, cached.ha1)
            if rc > 0:
                if plan is not None:
                    _refresh_decided(ctx, org, user, cached.ha1, plan, now)
                    return
                if quick is not None and _refresh(ctx, org, user, cached, quick, now):
                    return
                # Not written: the binding or the agent's credentials changed since. Read, decide.
            elif stale_nonce(org.domain, rc):  # e.g. a retransmission: nothing to read
                return
    # Credentials, the agent's registration and company: one round trip before the decision.
    view = ctx.state.registrations.register_view(org.id, user, pv("$si"), now)
    if cached is not None and rc is not None and view.auth.ha1 != cached.ha1:
        _password_changed(org, user)  # checked against the cached HA1: the nonce is spent
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
    ha1, *lines = raw.split("\n")
    return Cached(ha1, [CachedBinding(sig, int(seconds), contact, binding)
                        for sig, seconds, contact, binding in (line.split("\t", 3) for line in lines)])


def _forget(org_id: str, ext: str) -> None:
    KSR.htable.sht_rm(CACHE_TABLE, _key(org_id, ext))


def _password_changed(org: Org, ext: str) -> None:
    """The REGISTER was authenticated against an HA1 that changed since: nothing of it is
    cached, and the phone is asked again (stale=true) to answer with the new password."""
    _forget(org.id, ext)
    stale(org.domain)


Refresh = tuple[int, list[dict[str, Any]]]  # which cached binding, and the bindings after


def _refreshed(cached: Cached, now: float) -> Refresh | None:
    """What apply_register makes of the cached bindings when this REGISTER is the one that made
    one of them but for its Call-ID and CSeq, and all are live: that binding's expiry, Call-ID
    and CSeq change (a live binding before: no login, only online_until changes in the
    session). None: the regular path decides."""
    signature = _signature()
    mine = [i for i, b in enumerate(cached.bindings) if b.signature == signature]
    if len(mine) != 1:
        return None
    bindings = [json.loads(b.binding) for b in cached.bindings]
    if any(b["expires_at"] <= now for b in bindings):
        return None
    i = mine[0]
    call_id, cseq = pv("$ci"), int(pv("$cs") or 0)
    if bindings[i]["call_id"] == call_id and cseq < bindings[i]["cseq"]:
        return None
    bindings[i] = {**bindings[i], "expires_at": now + cached.bindings[i].seconds, "call_id": call_id, "cseq": cseq}
    return i, bindings


def _refresh(ctx: Context, org: Org, user: str, cached: Cached, plan: Refresh, now: float) -> bool:
    """The same phone again, credentials verified against the cached HA1: its refreshed binding
    written with no read (Registrations.refresh_binding) and answered from the cache. False:
    nothing written, the binding or the agent's credentials changed since it was cached."""
    i, bindings = plan
    mine = cached.bindings[i]
    fresh = mine._replace(binding=json.dumps(bindings[i]))
    received = bindings[i]["received"]
    on_conn = max(int(b["expires_at"] - now) for b in bindings if b["received"] == received)
    if not ctx.state.registrations.refresh_binding(org.id, user, (fresh.contact, fresh.binding, mine.binding),
                                                   bindings[i]["expires_at"]):
        _forget(org.id, user)
        return False
    KSR.auth.consume_credentials()
    after = [*cached.bindings[:i], fresh, *cached.bindings[i + 1:]]
    KSR.htable.sht_sets(CACHE_TABLE, _key(org.id, user), Cached(cached.ha1, after).text())
    connections.keep_registered(org.id, user, on_conn)
    newest_first = sorted(bindings, key=lambda b: b["expires_at"], reverse=True)
    _answer(org.id, 200, "OK", tuple(_contact_header(b["contact"], int(b["expires_at"] - now))
                                     for b in newest_first))
    return True


def _refresh_plan(ctx: Context, cached: Cached, now: float) -> tuple[Registration, RegisterWrite] | None:
    """Another REGISTER of an agent whose cached bindings are live: its decision, on the
    bindings as written then (REFRESH_REGISTER checks they still are). None: the regular path."""
    current = Registration({b.contact: b.binding for b in cached.bindings}, None)
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


def _no_login(before: list[Binding]) -> Company | None:
    """A refresh's company lookup: a live binding before means no login, nothing to snapshot."""
    return None


def _refresh_decided(ctx: Context, org: Org, user: str, ha1: str, plan: tuple[Registration, RegisterWrite],
                     now: float) -> None:
    current, write = plan
    if _written(ctx, org, user, ha1, commit_call(org.id, user, ha1, current, write), now):
        _registered(org.id, user, ha1, write.outcome, now)


def _written(ctx: Context, org: Org, user: str, ha1: str, call: tuple[list[str], list[str]], now: float) -> bool:
    """A refresh's commit `call` made on the cache, checked against the cached `ha1` it names:
    True once written. Otherwise answered: a stale challenge (the HA1 changed), or decided again on
    what the same round trip read (the bindings changed)."""
    done = ctx.state.registrations.refresh(org.id, user, call)
    if done.verdict == "stale":
        _password_changed(org, user)
        return False
    KSR.auth.consume_credentials()
    if done.verdict == "changed":  # cached again as written
        _register(ctx, org, user, ha1, done.registration, (done.company_id, done.org_version), now)
        return False
    return True


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
    return RegisterWrite(outcome, session)


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

    # Bindings and session written together in the second round trip.
    write = ctx.state.registrations.register(
        org.id, ext, ha1, registration, lambda current: _decide(request, current, company))
    if write is None:
        _password_changed(org, ext)
        return
    outcome = write.outcome
    if not outcome.ok:
        extra = (f"Min-Expires: {outcome.min_expires}",) if outcome.min_expires else ()
        _answer(org.id, outcome.status, outcome.reason, extra)
        return
    _registered(org.id, ext, ha1, outcome, now)


def _registered(org_id: str, ext: str, ha1: str, outcome: RegisterOutcome, now: float) -> None:
    """Written: remembered for the next refresh, the connection kept, the bindings answered."""
    _remember(org_id, ext, ha1, outcome.bindings, now)
    on_conn = _ttl_on_connection(outcome.bindings, source_uri(), now)
    if on_conn:
        connections.keep_registered(org_id, ext, on_conn)
    _reply_bindings(org_id, outcome.bindings, now)


def _remember(org_id: str, ext: str, ha1: str, bindings: list[Binding], now: float) -> None:
    """Caches the bindings as written. The one this REGISTER made carries its signature, the
    others keep theirs while unchanged; none when the request made several."""
    before = _cached(org_id, ext)
    known = {} if before is None else {(b.contact, b.binding): b for b in before.bindings}
    call_id, cseq = pv("$ci"), int(pv("$cs") or 0)
    made = [b for b in bindings if b.call_id == call_id and b.cseq == cseq]
    signature = _signature() if len(made) == 1 else ""
    lines = []
    for b in bindings:
        if "\t" in b.contact or "\n" in b.contact:
            _forget(org_id, ext)
            return
        text = binding_json(b)
        old = known.get((b.contact, text))
        if b in made:
            lines.append(CachedBinding(signature, round(b.expires_at - now), b.contact, text))
        else:
            lines.append(old or CachedBinding("", 0, b.contact, text))
    KSR.htable.sht_sets(CACHE_TABLE, _key(org_id, ext), Cached(ha1, lines).text())


def _ttl_on_connection(bindings: list[Binding], received: str, now: float) -> int:
    """The longest TTL of the bindings reached over the connection this REGISTER came on."""
    return max((b.ttl(now) for b in bindings if b.received == received), default=0)


def _timed_register(current: list[Binding], request: RegisterRequest) -> RegisterOutcome:
    with metrics.policy_timer("register"):
        return apply_register(current, request)


def _answer(org_id: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    metrics.registration(org_id, status)
    reply(status, reason, headers)


def _contact_header(contact: str, ttl: int) -> str:
    return f"Contact: <{contact}>;expires={ttl}"


def _reply_bindings(org_id: str, bindings: list[Binding], now: float) -> None:
    _answer(org_id, 200, "OK", tuple(_contact_header(b.contact, b.ttl(now)) for b in bindings))


def expire_registrations(ctx: Context) -> None:
    """rtimer tick: the registrations whose latest binding expired are removed, their agents
    offline (every node sweeps; each agent expires once). With Redis down: the next tick."""
    try:
        ctx.state.registrations.sweep()
    except DependencyDown:
        return
