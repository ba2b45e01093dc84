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
from kemi_app.policy.attendance import REFUSED, TRANSFER, Attendance, Event
from kemi_app.policy.interorg import CallFacts, OrgFacts, Outcome, Rule, TransferRequest, Verdict, decide
from kemi_app.policy.transfer import edge_refer_to, parse_refer_to, token_of
from kemi_app.provisioning.org import Org
from kemi_app.sip import attendances, queues, rpc
from kemi_app.sip.callstate import CallRecord, handed_over
from kemi_app.sip.context import Context, log_ctx, pv, refuse, reply
from kemi_app.sip.relay import Call, Target, ToAgent, ToQueue, ToUri, relay_call
from kemi_app.state import EdgeState

KIND = "transfer"


def org_facts(state: EdgeState, org: Org) -> OrgFacts:
    return OrgFacts(org.id, org.interorg_transfer_enabled, frozenset(state.directory.list_links(org.id)), org.ivr_uri)


def interorg_verdict(state: EdgeState, att: Attendance, destination: Org | None) -> Verdict:
    source = state.directory.get_org(att.org)
    assert source is not None
    call = CallFacts(att.direction, att.origin, att.entered_through_queue, att.interorg_transferred)
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
    token = ctx.state.history.announce_transfer(att.id, "interorg", verdict.target_uri, actor)
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
    kind, target, call_id = xfer["kind"], xfer["target"], pv("$ci")
    ctx.state.history.link_leg(att.id, call_id, Event(att.id, TRANSFER, time.time(), att.org, actor=xfer["actor"],
                                              target=target, result="connecting", detail=kind, call_id=call_id))
    ctx.state.history.set_customer_call(att.id, call_id)
    metrics.transfer(att.org, kind, "connecting")
    headers = []
    if xfer.get("replaces"):
        # The consultation call being replaced joins the attendance too.
        consult = xfer["replaces"].split(";", 1)[0]
        ctx.state.history.link_leg(att.id, consult, Event(att.id, TRANSFER, time.time(), att.org, actor=xfer["actor"],
                                                  target=target, result="replaces", detail=kind, call_id=consult))
        if KSR.hdr.is_present("Replaces") <= 0:
            headers.append(f"Replaces: {xfer['replaces']}")
    if kind == "interorg":
        headers.append(f"X-Edge-Transferred-From: {att.org}")
    record = CallRecord(org=att.org, kind=KIND, answered_by=target)
    destination = _destination(ctx, att, kind, target, record)
    if destination is not None:
        relay_call(ctx, Call(record, destination, attendances.Existing(att.id), headers=tuple(headers),
                             announce_attendance=True))
    return True


def _destination(ctx: Context, att: Attendance, kind: str, target: str, record: CallRecord) -> Target | None:
    """Where a transferred call goes; None after refusing it."""
    if kind == "interorg":
        return ToUri(target)
    if is_service_ext(target):
        org = ctx.state.directory.get_org(att.org)
        service = ctx.state.directory.get_service(att.org, target)
        if org is None or service is None:
            refuse(att.org, KIND, 404, "Service Not Found")
        elif service.kind == "queue":
            record.answered_by = ""  # the member who answers says who
            return ToQueue(queues.queue_call(org, service))
        elif service.target_uri:
            return ToUri(service.target_uri)
        else:
            refuse(att.org, KIND, 480, "Service Not Available")
        return None
    exists, bindings = ctx.state.registrations.agent_bindings(att.org, target)
    if not exists:
        refuse(att.org, KIND, 404, "Extension Not Found")
        return None
    if not bindings:
        refuse(att.org, KIND, 480, "Agent Not Registered")
        return None
    record.agents = [target]
    return ToAgent(bindings)


def transfer_org_by_api(ctx: Context, att_id: str, org_id: str) -> TransferRequest:
    """The API's inter-org transfer: the edge sends the REFER to the customer's leg itself
    (for softphones that cannot), then ends the agent's leg."""
    att = ctx.state.history.attendance(att_id)
    if att is None:
        return TransferRequest(Outcome.NO_ATTENDANCE, att_id, org_id)
    destination = ctx.state.directory.get_org(org_id)
    if destination is None:
        return TransferRequest(Outcome.NO_ORG, att_id, org_id)
    verdict = interorg_verdict(ctx.state, att, destination)
    if not verdict.allowed:
        refuse_interorg(ctx, att, verdict, "api", org_id)
        return TransferRequest(Outcome.REFUSED, att_id, org_id, verdict)
    dialog = _customer_dialog(att)
    if dialog is None:
        return TransferRequest(Outcome.NO_CALL, att_id, org_id)
    token = claim_interorg(ctx, att, verdict, "api", org_id)
    if not token:
        return TransferRequest(Outcome.REFUSED, att_id, org_id, Verdict(False, Rule.ALREADY_TRANSFERRED))
    _send_refer(ctx, dialog, edge_refer_to("ivr", edge_hostport(ctx), token))
    rpc.call("dlg.end_dlg", dialog["h_entry"], dialog["h_id"])
    return TransferRequest(Outcome.STARTED, att_id, org_id, verdict)


def _customer_dialog(att: Attendance) -> dict | None:
    if not att.customer_call:
        return None
    try:
        found = rpc.call("dlg.dlg_list", att.customer_call)
    except rpc.RpcError:
        return None
    dialogs = found if isinstance(found, list) else [found] if found else []
    # A node that only delivered the call for the node anchoring it leaves the transfer to that one.
    confirmed = [d for d in dialogs if isinstance(d, dict) and d.get("state") == 4 and not handed_over(d)]
    return confirmed[0] if confirmed else None


def _send_refer(ctx: Context, dialog: dict, refer_to: str) -> None:
    """A REFER inside the customer's dialog, as if from the agent's side of it."""
    caller, callee = dialog["caller"], dialog["callee"]
    cseq = int(callee.get("cseq") or 0) + 1
    headers = (
        f"From: <{dialog['to_uri']}>;tag={callee['tag']}\r\n"
        f"To: <{dialog['from_uri']}>;tag={caller['tag']}\r\n"
        f"Call-ID: {dialog['call-id']}\r\n"
        f"CSeq: {cseq} REFER\r\n"
        f"Contact: <sip:{edge_hostport(ctx)}>\r\n"
        f"Refer-To: {refer_to}\r\n"
        f"Referred-By: <sip:api@{edge_hostport(ctx)}>\r\n"
        "Max-Forwards: 70\r\n"
    )
    if KSR.tm.t_uac_send("REFER", caller["contact"], "", caller.get("socket", ""), headers, "") < 0:
        KSR.err(f"transfer: could not send REFER to {caller['contact']} {log_ctx()}\n")
