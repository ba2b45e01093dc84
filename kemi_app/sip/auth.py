"""Digest authentication of agents against the HA1 stored in Redis.

Nonces are bound to the node that issued them: the auth module's secret is its own random one
(kamailio.cfg), so another node's nonce, or one from before a restart, never validates here and
`one_time_nonce` (this node's shared memory) refuses every second use of one of its own. No
nonce use needs remembering in Redis."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy import digest
from kemi_app.policy.auth_policy import after_failure, counts_per_agent
from kemi_app.provisioning.org import Org
from kemi_app.sip.context import Context, pv, reply
from kemi_app.state import AgentAuth
from kemi_app.state.registrations import AUTH_FAILURE_WINDOW

HA1_IS_STORED = 1  # pv_auth_check flag: the "password" given is already HA1
CHECK_USER_MATCHES = 1  # pv_auth_check check: auth user must equal From (To for REGISTER)
QOP_AUTH = 1
STALE = 16  # auth_challenge flag: stale=true, the client retries with a fresh nonce
NONCE_EXPIRED = -4
NONCE_REUSED = -6  # a second use of one of this node's nonces: a replay or a client reusing it
AUTH_ERROR = -1  # among others, a nonce this node's secret did not make
UNKNOWN_AGENT_HA1 = "0" * 32  # never matches; unknown users look exactly like wrong passwords
# Node-wide (kamailio.cfg htable): 'org:ext' of agents with a failed attempt recorded on any node
# within the lockout window, and when this node last fetched the cluster's list (PULLED).
FAILURES_TABLE = "authfail"
PULLED = "~pulled"
PULL_SECONDS = 1.0  # another node's failure is seen here at most this late
CLOCK_SKEW = 30.0  # failures are timed by the clock of the node that recorded them


def _foreign_nonce() -> bool:
    """The credentials answer a challenge that another node (or this one before a restart) sent;
    the header is the one auth_challenge asks for: Authorization for REGISTER."""
    name = "Authorization" if KSR.is_REGISTER() > 0 else "Proxy-Authorization"
    return digest.issued_nonce(pv(f"$hdr({name})"), time.time())


def recently_failed(ctx: Context, org_id: str, ext: str) -> bool:
    """Whether a failed attempt against the agent was recorded on any node within the lockout
    window: only then can a lockout refuse its right password, so only then is it read."""
    now = time.time()
    pulled = KSR.htable.sht_get(FAILURES_TABLE, PULLED)
    if not pulled or now - float(pulled) >= PULL_SECONDS:
        since = max(float(pulled or 0), now - AUTH_FAILURE_WINDOW) - CLOCK_SKEW
        for name in ctx.state.registrations.failed_since(since):
            KSR.htable.sht_seti(FAILURES_TABLE, name, 1)
        KSR.htable.sht_sets(FAILURES_TABLE, PULLED, repr(now))
    return bool(KSR.htable.sht_get(FAILURES_TABLE, f"{org_id}:{ext}"))


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


def stale_nonce(realm: str, rc: int) -> bool:
    """Whether the check `rc` refused the nonce without checking the password (expired, used
    before, or not this node's): then answered with a fresh challenge, stale=true."""
    if rc == NONCE_REUSED:
        metrics.sip_refused("replayed_credentials")
    elif rc != NONCE_EXPIRED and not (rc == AUTH_ERROR and _foreign_nonce()):
        return False
    stale(realm)
    return True


def locked_out(org: Org) -> None:
    metrics.auth_failure(org.id, pv("$rm"), "locked_out")
    _refused(pv("$rm"), org.id, 403, "Too Many Failed Authentications")


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
    if rc > 0:
        KSR.auth.consume_credentials()
        return user
    if stale_nonce(realm, rc):
        return None
    per_agent = counts_per_agent(agent.ha1 is not None)
    failures = ctx.state.registrations.record_auth_failure(org.id, user, source, per_agent=per_agent)
    if per_agent:
        KSR.htable.sht_seti(FAILURES_TABLE, f"{org.id}:{user}", 1)
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
