"""Calls from carriers: trusted by source address (a configured gateway), never by digest.
The dialled DID names an org's service: a queue offers the call to agents, an IVR or a
conference is relayed to its URI. Nothing from a gateway is ever relayed back out to one."""

from __future__ import annotations

import KSR

from kemi_app.policy.did import E164_RE
from kemi_app.sip import attendances, media, queues
from kemi_app.sip.context import Context, pv, reply
from kemi_app.sip.nat import fix_contact
from kemi_app.sip.relay import refuse, track_call

KIND = "inbound"


def did_number(user: str) -> str:
    """Carriers send DIDs with or without '+'; they are stored in E.164."""
    digits = user.removeprefix("+")
    return "+" + digits if digits.isdigit() else user


def from_carrier(ctx: Context) -> bool:
    """Handles an initial request if it comes from a carrier gateway; False otherwise."""
    if ctx.state.gateway_from(pv("$si"), int(pv("$sp") or 0)) is None:
        return False
    method = pv("$rm")
    if method == "OPTIONS":
        reply(200, "OK")
    elif method != "INVITE":
        reply(405, "Only Calls Accepted From Carriers")
    else:
        _inbound_call(ctx)
    return True


def _inbound_call(ctx: Context) -> None:
    number = did_number(pv("$rU"))
    route = ctx.state.inbound_route(number) if E164_RE.match(number) else None
    if route is None:
        refuse("", KIND, 404, "Unknown DID")
        return
    org, service = route.org, route.service
    if service is None:
        refuse(org.id, KIND, 404, "Service Not Found")
        return
    if service.kind != "queue" and not service.target_uri:
        refuse(org.id, KIND, 480, "Service Not Available")
        return
    track_call(org.id, KIND)
    media.prepare_initial(ctx)
    fix_contact()
    customer = pv("$fU") or "customer"
    origin = "queue" if service.kind == "queue" else "direct"
    att = attendances.begin(ctx, org.id, origin, "inbound", actor=customer, target=service.ext,
                            queue=service.ext if origin == "queue" else "", detail=f"did {number}")
    if service.kind == "queue":
        queues.start(ctx, queues.QueueCall.of(org, service), att.id)
        return
    KSR.hdr.append(f"X-Edge-Attendance: {att.id}\r\n")
    KSR.pv.sets(attendances.DLG_ANSWERED_BY, service.ext)
    KSR.seturi(service.target_uri)
    if not media.relay(ctx):
        KSR.sl.sl_reply_error()
