"""In-dialog requests: relayed only inside dialogs this edge made (see policy.dialog_token)."""

from __future__ import annotations

import time

import KSR

from kemi_app.policy import dialog_token
from kemi_app.sip.context import Context, pv


def record_route(ctx: Context, handover: bool = False) -> None:
    """Record-Route with the signature that lets this dialog's later requests through."""
    params = dialog_token.record_route_params(ctx.settings.auth_secret, pv("$ci"), time.time(), handover)
    KSR.rr.record_route_params(params)


def signed_route(ctx: Context) -> dict[str, str] | None:
    """The parameters of the first Route if it is this edge's, signed for this Call-ID; else
    None. Checked before loose_route, so a Route naming another host, or an unsigned Route to
    the edge, is never followed."""
    if KSR.hdr.is_present("Route") < 0:
        return None
    route = pv("$route_uri")
    if not route or KSR.is_myself(route) <= 0:  # 0 means no, as for is_myself_ruri
        return None
    return dialog_token.signed_params(ctx.settings.auth_secret, pv("$ci"), route, time.time())


def handed_over(route: dict[str, str]) -> bool:
    """Does the Route `signed_route` checked mark a call this node only delivers?"""
    return dialog_token.handed_over(route)
