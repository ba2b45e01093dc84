"""External and emergency calls to the carrier gateways, in priority order, with failover.

The gateways still to try ride with the transaction (sip/callstate.Transaction); the tm
failure route (EdgeRoutes.ksr_gateway_failure) takes the next one after a 5xx or a timeout,
or answers a gateway's digest challenge (401/407) once with its credentials (uac module).
"""

from __future__ import annotations

import KSR

from kemi_app.policy.gateway import fails_over
from kemi_app.provisioning.gateway import Gateway
from kemi_app.sip import media
from kemi_app.sip.callstate import (
    UAC_AUTH_PASSWORD,
    UAC_AUTH_REALM,
    UAC_AUTH_USER,
    CallRecord,
    GatewayAttempt,
    Transaction,
)
from kemi_app.sip.context import Context, pv
from kemi_app.sip.tmroutes import GATEWAY_FAILURE_ROUTE

RINGING_LIMIT_MS = 120000  # once a gateway answers provisionally, the callee has this long
ALL_FAILED = (503, "All Gateways Failed")
CHALLENGES = (401, 407)
QUIET_LOG_LEVEL = 1  # notice at most: Kamailio's level while a gateway's password is handled


def attempts(gateways: list[Gateway], number: str) -> list[GatewayAttempt]:
    """One attempt per gateway; its codecs shape the media offer toward that gateway."""
    return [GatewayAttempt(g.uri_for(number), list(g.codecs), g.id) for g in gateways]


def relay(ctx: Context, tx: Transaction, pending: list[GatewayAttempt]) -> bool:
    """Tries the first of `pending`; the rest wait in the transaction for the failure route."""
    tx.trying, tx.gateways = pending[0], pending[1:]
    tx.save()
    KSR.seturi(pending[0].uri)
    KSR.tm.t_on_failure(GATEWAY_FAILURE_ROUTE)
    KSR.tm.t_set_fr(RINGING_LIMIT_MS, ctx.settings.gateway_timeout_ms)
    return media.relay(ctx)


def next_attempt(ctx: Context) -> int | None:
    """In the failure route: tries the next gateway and returns None, or returns the call's
    final status (the answer already chosen, or 503 once every gateway failed)."""
    status = int(pv("$T_reply_code") or 0)
    if KSR.tm.t_is_canceled() > 0:
        return status
    tx = Transaction.load()
    if status in CHALLENGES and tx.trying is not None and not tx.authenticated:
        return _authenticate(ctx, tx, tx.trying, status)
    if not fails_over(status):
        return status
    if not tx.gateways:
        KSR.tm.t_reply(*ALL_FAILED)
        return ALL_FAILED[0]
    following = tx.gateways[0]
    KSR.notice(f"gateway failed with {status}, trying {following.uri} call-id={pv('$ci')}\n")
    tx.authenticated = False  # the next gateway may challenge too
    return _try(ctx, tx, tx.gateways)


def _try(ctx: Context, tx: Transaction, pending: list[GatewayAttempt]) -> int | None:
    """A new branch from the failure route, with its own media offer."""
    record = CallRecord.load()
    media.prepare_failover(record, tx, pending[0].codecs)
    record.save()
    if relay(ctx, tx, pending):
        return None
    KSR.tm.t_reply(*ALL_FAILED)
    return ALL_FAILED[0]


def _authenticate(ctx: Context, tx: Transaction, attempt: GatewayAttempt, status: int) -> int | None:
    """Tries the same gateway again with its credentials, once: a second challenge is final."""
    gateway = ctx.state.directory.get_gateway(attempt.gateway)
    if gateway is None or not gateway.auth_username:
        return status
    # At debug level app_python3 logs every KSR argument: this worker logs less meanwhile.
    KSR.kex.setdebug(min(KSR.get_debug(), QUIET_LOG_LEVEL))
    try:
        KSR.pv.sets(UAC_AUTH_USER, gateway.auth_username)
        KSR.pv.sets(UAC_AUTH_PASSWORD, gateway.auth_secret)
        KSR.pv.sets(UAC_AUTH_REALM, gateway.auth_realm)
        answered = KSR.uac.uac_auth_mode(1 if gateway.auth_secret_is_ha1 else 0) > 0
        for name in (UAC_AUTH_USER, UAC_AUTH_PASSWORD, UAC_AUTH_REALM):
            KSR.pv.unset(name)  # the password lives no longer than the call that needs it
    finally:
        KSR.kex.resetdebug()
    if not answered:
        KSR.notice(f"gateway {gateway.id} challenged with {status}, no matching credentials call-id={pv('$ci')}\n")
        return status
    tx.authenticated = True
    return _try(ctx, tx, [attempt, *tx.gateways])
