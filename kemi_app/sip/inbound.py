"""Calls from carriers: trusted by source address (a configured gateway), never by digest.
The dialled DID names an org's service: a queue offers the call to agents, an IVR or a
conference is relayed to its URI. Nothing from a gateway is ever relayed back out to one."""

from __future__ import annotations

from kemi_app.policy.recording import automatic_reason
from kemi_app.provisioning.did import E164_RE
from kemi_app.sip import attendances, queues, topology
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv, refuse, reply
from kemi_app.sip.relay import Call, ToQueue, ToUri, relay_call

KIND = "inbound"


def did_number(user: str) -> str:
    """Carriers send DIDs with or without '+'; they are stored in E.164."""
    digits = user.removeprefix("+")
    return "+" + digits if digits.isdigit() else user


def from_carrier(ctx: Context) -> bool:
    """Handles an initial request if it comes from a carrier gateway; False otherwise."""
    gateway = ctx.state.lookups.gateway_from(pv("$si"), int(pv("$sp") or 0))
    if gateway is None:
        return False
    topology.note([gateway])  # the answers to it are masked
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
    route = ctx.state.lookups.inbound_route(number) if E164_RE.match(number) else None
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
    customer = pv("$fU") or "customer"
    queued = service.kind == "queue"
    plan = attendances.NewAttendance("queue" if queued else "direct", "inbound", actor=customer, target=service.ext,
                                     queue=service.ext if queued else "", detail=f"did {number}")
    if queued:
        record = CallRecord(org=org.id, kind=KIND, record_rule=automatic_reason((), service))
        relay_call(ctx, Call(record, ToQueue(queues.queue_call(org, service)), plan, from_carrier=True))
    else:
        record = CallRecord(org=org.id, kind=KIND, answered_by=service.ext)
        relay_call(ctx, Call(record, ToUri(service.target_uri), plan, announce_attendance=True, from_carrier=True))
