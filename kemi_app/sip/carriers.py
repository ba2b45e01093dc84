"""External and emergency calls to the carrier gateways, in priority order, with failover.

The gateways still to try ride with the transaction in an AVP; the tm failure route
(EdgeRoutes.ksr_gateway_failure) takes the next one after a 5xx or a timeout.
"""

from __future__ import annotations

import KSR

from kemi_app.policy.gateway import Gateway, fails_over
from kemi_app.sip import media
from kemi_app.sip.context import Context, pv

PENDING_AVP = "$avp(edge_gateways)"
FAILURE_ROUTE = "ksr_gateway_failure"
RINGING_LIMIT_MS = 120000  # once a gateway answers provisionally, the callee has this long
ALL_FAILED = (503, "All Gateways Failed")


def first_attempt(ctx: Context, gateways: list[Gateway], number: str) -> None:
    # Each attempt: "uri|codec,codec" (the codecs shape the media offer toward that gateway).
    attempts = [f"{g.uri_for(number)}|{','.join(g.codecs)}" for g in gateways]
    if not _relay(ctx, attempts):
        KSR.sl.sl_reply_error()


def _relay(ctx: Context, attempts: list[str]) -> bool:
    KSR.pv.unset(PENDING_AVP)
    KSR.pv.sets(PENDING_AVP, " ".join(attempts[1:]))
    uri = attempts[0].partition("|")[0]
    KSR.seturi(uri)
    KSR.tm.t_on_failure(FAILURE_ROUTE)
    KSR.tm.t_set_fr(RINGING_LIMIT_MS, ctx.settings.gateway_timeout_ms)
    return media.relay(ctx)


def next_attempt(ctx: Context) -> int | None:
    """In the failure route: tries the next gateway and returns None, or returns the call's
    final status (the answer already chosen, or 503 once every gateway failed)."""
    status = int(pv("$T_reply_code") or 0)
    if KSR.tm.t_is_canceled() > 0 or not fails_over(status):
        return status
    pending = pv(PENDING_AVP).split()
    if not pending:
        KSR.tm.t_reply(*ALL_FAILED)
        return ALL_FAILED[0]
    KSR.notice(f"gateway failed with {status}, trying {pending[0]} call-id={pv('$ci')}\n")
    media.prepare_failover(tuple(c for c in pending[0].partition("|")[2].split(",") if c))
    if _relay(ctx, pending):
        return None
    KSR.tm.t_reply(*ALL_FAILED)
    return ALL_FAILED[0]
