"""Digest authentication of agents against the HA1 stored in Redis."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy import digest
from kemi_app.policy.auth_policy import after_failure, counts_per_agent
from kemi_app.provisioning.org import Org
from kemi_app.sip.context import Context, pv, reply
from kemi_app.state import AgentAuth

HA1_IS_STORED = 1  # pv_auth_check flag: the "password" given is already HA1
CHECK_USER_MATCHES = 1  # pv_auth_check check: auth user must equal From (To for REGISTER)
QOP_AUTH = 1
STALE = 16  # auth_challenge flag: stale=true, the client retries with a fresh nonce
NONCE_STALE = (-4, -6)  # expired or reused nonce: not a wrong password
UNKNOWN_AGENT_HA1 = "0" * 32  # never matches; unknown users look exactly like wrong passwords


def nonce_use() -> str:
    """This request's use of its nonce (policy.digest.nonce_use); the header is the one
    auth_challenge asks for: Authorization for REGISTER, Proxy-Authorization otherwise."""
    name = "Authorization" if KSR.is_REGISTER() > 0 else "Proxy-Authorization"
    return digest.nonce_use(pv(f"$hdr({name})"))


def has_credentials(org: Org) -> bool:
    """False after challenging a request that carries no credentials for the org's realm."""
    if KSR.auth.has_credentials(org.domain) < 0:
        KSR.auth.auth_challenge(org.domain, QOP_AUTH)
        return False
    return True


def check(realm: str, ha1: str | None) -> int:
    """The digest check of the request's credentials against `ha1` (None: no such agent). It
    uses up the nonce on this node (one_time_nonce): run it once per request."""
    return KSR.auth.pv_auth_check(realm, ha1 or UNKNOWN_AGENT_HA1, HA1_IS_STORED, CHECK_USER_MATCHES)


def stale(realm: str) -> None:
    """A fresh challenge the client answers without asking its user (stale=true)."""
    KSR.auth.auth_challenge(realm, QOP_AUTH | STALE)


def locked_out(org: Org) -> None:
    metrics.auth_failure(org.id, pv("$rm"), "locked_out")
    _refused(pv("$rm"), org.id, 403, "Too Many Failed Authentications")


def replayed(realm: str, user: str) -> None:
    """Right credentials, but this exact nonce use was seen before: a captured request resent."""
    KSR.notice(f"replayed credentials for {user}@{realm} from {pv('$si')}\n")
    metrics.sip_refused("replayed_credentials")
    stale(realm)


def verify(ctx: Context, org: Org, user: str, agent: AgentAuth, rc: int | None = None) -> str | None:
    """Checks the credentials against `agent` (fetched by the caller, often together with
    what the request needs next); `rc`: the check's result when the caller ran it already.
    Returns `user`, or None after answering."""
    realm = org.domain
    source = pv("$si")
    limit = ctx.settings.auth_max_failures
    if agent.failures >= limit:
        locked_out(org)
        return None
    if rc is None:
        rc = check(realm, agent.ha1)
    if rc > 0 and not agent.fresh:
        replayed(realm, user)
        return None
    if rc > 0:
        KSR.auth.consume_credentials()
        return user
    if rc in NONCE_STALE:
        stale(realm)
        return None
    per_agent = counts_per_agent(agent.ha1 is not None)
    failures = ctx.state.registrations.record_auth_failure(org.id, user, source, per_agent=per_agent)
    with metrics.policy_timer("auth_failure"):
        verdict = after_failure(failures, limit)
    KSR.notice(f"auth failed for {user}@{realm} rc={rc} from {source}\n")
    metrics.auth_failure(org.id, pv("$rm"), "wrong_credentials")
    if verdict.challenge:
        KSR.auth.auth_challenge(realm, QOP_AUTH)
    else:
        _refused(pv("$rm"), org.id, verdict.status, verdict.reason)
    return None


def _refused(method: str, org_id: str, status: int, reason: str) -> None:
    """A final refusal is also the request's outcome: count it as a registration or a call."""
    if method == "REGISTER":
        metrics.registration(org_id, status)
    elif method == "INVITE":
        metrics.call_final(org_id, "unauthenticated", status)
    reply(status, reason)
