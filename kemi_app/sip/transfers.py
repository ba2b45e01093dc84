"""Transfers: blind (REFER), attended (REFER with Replaces) and between orgs (to the
destination org's IVR), whether asked for by an agent's REFER or through the API.

A REFER the edge lets through has its Refer-To rewritten to point back at the edge with a
one-time token (policy.transfer). The transferee's INVITE to it is routed by the edge to
what the token names and linked to the original attendance.
"""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.extensions import is_service_ext
from kemi_app.policy.attendance import REFUSED, START, TRANSFER, Attendance, Event, new_attendance_id
from kemi_app.policy.callee import callee_refusal
from kemi_app.policy.interorg import CallFacts, OrgFacts, Rule, Verdict, decide
from kemi_app.policy.pause import Refusal
from kemi_app.policy.transfer import API_ACTOR, counts_as_transfer, edge_refer_to, parse_refer_to, token_of
from kemi_app.provisioning.org import Org
from kemi_app.sip import attendances, queues
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv, refuse, reply
from kemi_app.sip.relay import Call, Target, ToAgent, ToQueue, ToUri, relay_call
from kemi_app.state import EdgeState

KIND = "transfer"


def org_facts(state: EdgeState, org: Org) -> OrgFacts:
    return OrgFacts(org.id, org.interorg_transfer_enabled, frozenset(state.directory.list_links(org.id)), org.ivr_uri)


def interorg_verdict(state: EdgeState, att: Attendance, destination: Org | None) -> Verdict:
    source = state.directory.get_org(att.org)
    assert source is not None
    call = CallFacts(att.direction, att.origin, att.entered_through_queue, att.interorg_transferred, att.transferred)
    dest = org_facts(state, destination) if destination is not None else None
    return decide(org_facts(state, source), dest, call)


def edge_hostport(ctx: Context) -> str:
    s = ctx.settings
    return f"{s.advertise_addr or s.sip_addr}:{s.sip_port}"


def refuse_interorg(ctx: Context, att: Attendance, verdict: Verdict, actor: str, target: str) -> None:
    rule = verdict.rule.value if verdict.rule else "unknown"
    metrics.interorg_refusal(att.org, rule)
    ctx.state.history.record_events(Event(att.id, REFUSED, time.time(), att.org, actor=actor, target=target,
                                          result=rule, reason=verdict.reason, detail="inter-org transfer"))


def claim_interorg(ctx: Context, att: Attendance, verdict: Verdict, actor: str, target: str) -> str:
    """Claims the attendance's one inter-org transfer; returns the token for the transferee's
    INVITE, or '' when another transfer won the race (recorded as a refusal)."""
    now = time.time()
    if not ctx.state.history.mark_interorg_transferred(att.id, now):
        refuse_interorg(ctx, att, Verdict(False, Rule.ALREADY_TRANSFERRED), actor, target)
        return ""
    token = ctx.state.history.announce_transfer(att.id, "interorg", verdict.target_uri, actor, org=target)
    ctx.state.history.record_events(Event(att.id, TRANSFER, now, att.org, actor=actor, target=target,
                                  result="requested", detail="interorg"))
    metrics.transfer(att.org, "interorg", "requested")
    return token


def on_refer(ctx: Context) -> bool:
    """An in-dialog REFER on its way to the other party. True when answered here (refused)."""
    att = ctx.state.history.attendance_by_call(pv("$ci"))
    target = parse_refer_to(pv("$hdr(Refer-To)"))
    if att is None or target is None:
        return False  # not a call the edge tracks, or a Refer-To it does not understand
    # A REFER from the called side comes From the dialled number: name who answered instead.
    upstream = KSR.rr.is_direction("upstream") > 0
    actor = (CallRecord.load().answered_by if upstream else "") or pv("$fU")
    destination = ctx.state.lookups.org_by_domain(target.host)
    if _elsewhere(ctx, att, target.host, destination):
        verdict = interorg_verdict(ctx.state, att, destination)
        dest_id = destination.id if destination else target.host
        token = claim_interorg(ctx, att, verdict, actor, dest_id) if verdict.allowed else ""
        if not token:
            if not verdict.allowed:
                refuse_interorg(ctx, att, verdict, actor, dest_id)
            else:
                verdict = Verdict(False, Rule.ALREADY_TRANSFERRED)
            rule = verdict.rule.value if verdict.rule else "unknown"
            reply(403, verdict.reason, (f"X-Edge-Refusal: {rule}",))
            return True
        user = "ivr"
    else:
        user, kind = target.user, target.kind
        token = ctx.state.history.announce_transfer(att.id, kind, target.user, actor, target.replaces)
        ctx.state.history.record_events(Event(att.id, TRANSFER, time.time(), att.org, actor=actor, target=target.user,
                                      result="requested", detail=kind, call_id=pv("$ci")))
        metrics.transfer(att.org, kind, "requested")
    KSR.hdr.remove("Refer-To")
    KSR.hdr.append(f"Refer-To: {edge_refer_to(user, edge_hostport(ctx), token)}\r\n")
    return False


def _elsewhere(ctx: Context, att: Attendance, host: str, destination: Org | None) -> bool:
    """Does the Refer-To leave the attendance's org (another org, or a domain nobody has)?"""
    if destination is not None:
        return destination.id != att.org
    return KSR.is_myself(f"sip:{host}") <= 0  # a bool: False (== 0) means not here


def on_transfer_invite(ctx: Context) -> bool:
    """An initial INVITE to a transfer token: routed to what the token names, linked to its
    attendance. False when the INVITE carries no token."""
    token = token_of(pv("$ru"))
    if not token:
        return False
    xfer = ctx.state.history.take_transfer(token)
    att = ctx.state.history.attendance(xfer.get("attendance", "")) if xfer else None
    if att is None:
        refuse("", KIND, 404, "Transfer Expired")
        return True
    if xfer["kind"] == "interorg":
        _to_other_org(ctx, att, xfer)
        return True
    kind, target, actor, call_id = xfer["kind"], xfer["target"], xfer["actor"], pv("$ci")
    record = CallRecord(org=att.org, kind=KIND, answered_by=target)
    destination = _destination(ctx, att, target, record)
    if isinstance(destination, Refusal):
        ctx.state.history.record_events(Event(att.id, TRANSFER, time.time(), att.org, actor=actor, target=target,
                                              result=f"refused {destination.status}", reason=destination.reason,
                                              detail=kind, call_id=call_id))
        metrics.transfer(att.org, kind, "refused")
        refuse(att.org, KIND, destination.status, destination.reason)
        return True
    queue = destination.queue.ext if isinstance(destination, ToQueue) else ""
    ctx.state.history.link_transfer(att.id, call_id, Event(att.id, TRANSFER, time.time(), att.org, actor=actor,
                                                           target=target, result="connecting", detail=kind,
                                                           call_id=call_id),
                                    transferred=counts_as_transfer(actor), queue=queue)
    metrics.transfer(att.org, kind, "connecting")
    headers = []
    if xfer.get("replaces"):
        # The consultation call being replaced joins the attendance too.
        consult = xfer["replaces"].split(";", 1)[0]
        ctx.state.history.link_leg(att.id, consult, Event(att.id, TRANSFER, time.time(), att.org, actor=actor,
                                                          target=target, result="replaces", detail=kind,
                                                          call_id=consult))
        if KSR.hdr.is_present("Replaces") <= 0:
            headers.append(f"Replaces: {xfer['replaces']}")
    relay_call(ctx, Call(record, destination, attendances.Existing(att.id), headers=tuple(headers),
                         announce_attendance=True))
    return True


def _to_other_org(ctx: Context, att: Attendance, xfer: dict[str, str]) -> None:
    """The customer's new call to the destination org's IVR: that org's own attendance (its
    company keeps the call's flow too), linked to the source's; already transferred between
    orgs, so never again."""
    now, call_id, dest_org = time.time(), pv("$ci"), xfer.get("org") or att.org
    dest = Attendance(id=new_attendance_id(now), org=dest_org, origin=KIND, direction="inbound", created_at=now,
                      interorg_transferred=True, customer_call=call_id, transferred_from=att.id)
    ctx.state.history.continue_in_org(
        att.id, dest, call_id,
        Event(att.id, TRANSFER, now, att.org, actor=xfer["actor"], target=dest_org, result="connecting",
              detail="interorg", call_id=call_id),
        Event(dest.id, START, now, dest_org, actor=att.org, target=xfer["target"], call_id=call_id,
              detail=f"transfer from {att.org} {att.id}"),
    )
    metrics.transfer(att.org, "interorg", "connecting")
    record = CallRecord(org=dest_org, kind=KIND, answered_by=xfer["target"],
                        org_transfer=att.id if xfer["actor"] == API_ACTOR else "")
    relay_call(ctx, Call(record, ToUri(xfer["target"]), attendances.Existing(dest.id),
                         headers=(f"X-Edge-Transferred-From: {att.org}",), announce_attendance=True))


def _destination(ctx: Context, att: Attendance, target: str, record: CallRecord) -> Target | Refusal:
    """Where a transfer inside the org goes, or why it cannot: a transfer to an agent follows
    the rule of a direct call to it."""
    if is_service_ext(target):
        org = ctx.state.directory.get_org(att.org)
        service = ctx.state.directory.get_service(att.org, target)
        if org is None or service is None:
            return Refusal(404, "Service Not Found")
        if service.kind == "queue":
            record.answered_by = ""  # the member who answers says who
            return ToQueue(queues.queue_call(org, service))
        if service.target_uri:
            return ToUri(service.target_uri)
        return Refusal(480, "Service Not Available")
    agent, bindings = ctx.state.registrations.agent_bindings(att.org, target)
    refusal = callee_refusal(agent is not None, bool(agent and agent.dnd), bool(bindings))
    if refusal is not None:
        return refusal
    record.agents = [target]
    return ToAgent(bindings)
