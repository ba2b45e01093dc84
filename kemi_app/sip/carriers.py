"""External and emergency calls to the carrier gateways, in priority order, with failover.

The gateways still to try ride with the transaction (sip/callstate.Transaction); the tm
failure route (EdgeRoutes.ksr_gateway_failure) takes the next one after a 5xx or a timeout.
"""

from __future__ import annotations

import KSR

from kemi_app.policy.gateway import fails_over
from kemi_app.provisioning.gateway import Gateway
from kemi_app.sip import media
from kemi_app.sip.callstate import CallRecord, GatewayAttempt, Transaction
from kemi_app.sip.context import Context, pv
from kemi_app.sip.tmroutes import GATEWAY_FAILURE_ROUTE

RINGING_LIMIT_MS = 120000  # once a gateway answers provisionally, the callee has this long
ALL_FAILED = (503, "All Gateways Failed")


def attempts(gateways: list[Gateway], number: str) -> list[GatewayAttempt]:
    """One attempt per gateway; its codecs shape the media offer toward that gateway."""
    return [GatewayAttempt(g.uri_for(number), list(g.codecs)) for g in gateways]


def relay(ctx: Context, tx: Transaction, pending: list[GatewayAttempt]) -> bool:
    """Tries the first of `pending`; the rest wait in the transaction for the failure route."""
    tx.gateways = pending[1:]
    tx.save()
    KSR.seturi(pending[0].uri)
    KSR.tm.t_on_failure(GATEWAY_FAILURE_ROUTE)
    KSR.tm.t_set_fr(RINGING_LIMIT_MS, ctx.settings.gateway_timeout_ms)
    return KSR.tm.t_relay() > 0


def next_attempt(ctx: Context) -> int | None:
    """In the failure route: tries the next gateway and returns None, or returns the call's
    final status (the answer already chosen, or 503 once every gateway failed)."""
    status = int(pv("$T_reply_code") or 0)
    if KSR.tm.t_is_canceled() > 0 or not fails_over(status):
        return status
    tx = Transaction.load()
    if not tx.gateways:
        KSR.tm.t_reply(*ALL_FAILED)
        return ALL_FAILED[0]
    following = tx.gateways[0]
    KSR.notice(f"gateway failed with {status}, trying {following.uri} call-id={pv('$ci')}\n")
    record = CallRecord.load()
    media.prepare_failover(record, tx, following.codecs)
    record.save()
    if relay(ctx, tx, tx.gateways):
        return None
    KSR.tm.t_reply(*ALL_FAILED)
    return ALL_FAILED[0]
