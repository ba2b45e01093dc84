"""Calls from carriers: trusted by source address (a configured gateway), never by digest.
The dialled DID names an org's service: a queue offers the call to agents, an IVR or a
conference is relayed to its URI. Nothing from a gateway is ever relayed back out to one."""

from __future__ import annotations

import contextlib
import time

from kemi_app.policy.attendance import new_attendance_id
from kemi_app.policy.recording import automatic_reason
from kemi_app.provisioning.did import E164_RE
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.sip import attendances, queues, topology
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv, refuse, reply
from kemi_app.sip.relay import Call, ToQueue, ToUri, relay_call
from kemi_app.state.lookups import InboundRoute
from kemi_app.state.queues import StaleRoute

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
    if not E164_RE.match(number):
        refuse("", KIND, 404, "Unknown DID")
        return
    if not _to_queue_as_cached(ctx, number):
        _route(ctx, number, ctx.state.lookups.inbound_route(number))


def _to_queue_as_cached(ctx: Context, number: str) -> bool:
    """A queue call on the route this worker read before: the first pick checks that the route
    is still current, in its own round trip (no lookup of its own). False: not done."""
    cached = ctx.state.lookups.cached_route(number)
    route = cached[1] if cached else None
    if cached is None or route is None or route.service is None or route.service.kind != "queue":
        return False
    now = time.time()
    att_id = new_attendance_id(now)
    try:
        first = queues.pick_first(ctx, queues.queue_call(route.org, route.service), att_id, cached[0])
    except StaleRoute:
        return False
    _to_queue(ctx, number, route.org, route.service, (att_id, now), first)
    return True


def _route(ctx: Context, number: str, route: InboundRoute | None) -> None:
    if route is None:
        refuse("", KIND, 404, "Unknown DID")
        return
    org, service = route.org, route.service
    if service is None:
        refuse(org.id, KIND, 404, "Service Not Found")
        return
    if service.kind == "queue":
        _to_queue(ctx, number, org, service)
        return
    if not service.target_uri:
        refuse(org.id, KIND, 480, "Service Not Available")
        return
    plan = attendances.NewAttendance("direct", "inbound", actor=_customer(), target=service.ext,
                                     detail=f"did {number}")
    record = CallRecord(org=org.id, kind=KIND, answered_by=service.ext)
    relay_call(ctx, Call(record, ToUri(service.target_uri), plan, announce_attendance=True, from_carrier=True))


def _customer() -> str:
    return pv("$fU") or "customer"


def _to_queue(ctx: Context, number: str, org: Org, service: Service, begun: tuple[str, float] = ("", 0.0),
              first: queues.FirstPick | None = None) -> None:
    """`first`: the member picked already, for the attendance `begun` (its id and start); let
    go should the call not get as far as ringing it."""
    att_id, at = begun
    plan = attendances.NewAttendance("queue", "inbound", actor=_customer(), target=service.ext, queue=service.ext,
                                     detail=f"did {number}", id=att_id, at=at,
                                     more=(first.offer,) if first is not None and first.offer else ())
    record = CallRecord(org=org.id, kind=KIND, record_rule=automatic_reason((), service))
    try:
        relay_call(ctx, Call(record, ToQueue(queues.queue_call(org, service), first), plan, from_carrier=True))
    except Exception:
        if first is not None and first.member is not None:
            with contextlib.suppress(Exception):  # else its lock expires by itself
                ctx.state.queues.release_offer(org.id, first.member[0], att_id)
        raise
