"""Initial requests from agents (INVITE, MESSAGE): authenticate, apply the pause rule and the
dial plan, then relay to an agent, a service or the carrier gateways."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.extensions import Shape, shape
from kemi_app.policy.callee import callee_refusal
from kemi_app.policy.callerid import NOT_ALLOWED
from kemi_app.policy.dialplan import NOT_AUTHORISED, Destination, DestKind, classify
from kemi_app.policy.feature_codes import parse as parse_feature
from kemi_app.policy.pause import pause_refusal
from kemi_app.policy.recording import automatic_reason
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.org import Org
from kemi_app.sip import attendances, callerid, carriers, queues, topology
from kemi_app.sip.auth import has_credentials, verify
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv, refuse
from kemi_app.sip.features import handle_feature
from kemi_app.sip.relay import Call, Target, ToAgent, ToGateways, ToQueue, ToUri, relay_call, relay_message
from kemi_app.state import CallView


def handle_initial(ctx: Context) -> None:
    """An agent's request: never a carrier's (sip/inbound.py takes those first)."""
    org = ctx.state.lookups.org_by_domain(pv("$fd"))
    if org is None:
        refuse("", metrics.UNKNOWN, 403, "Unknown Domain")
        return
    if not has_credentials(org):
        return
    user, dialled, invite = pv("$au"), pv("$rU"), KSR.is_INVITE() > 0
    # One round trip: credentials, the caller's state and session, the dialled agent or service
    # (not read when the caller's pause refuses the call). No nonce use to claim: SIP nonces are
    # bound to this node (sip/auth).
    view = ctx.state.call_views.call_view(org.id, user, pv("$si"), dialled, "", refusable=invite,
                                          blocking_companies=ctx.state.lookups.blocking_companies(org.id))
    if verify(ctx, org, user, view.auth) is None:
        return
    if not _target_in_org(ctx, org):
        refuse(org.id, "other_org", 404, "Not Found")
        return
    if shape(dialled) is Shape.FEATURE:  # before the pause rule: a paused agent can still use them
        request = parse_feature(dialled)
        if request is None:
            refuse(org.id, DestKind.FEATURE.value, 404, "Unknown Feature Code")
        else:
            handle_feature(ctx, org, user, request, view)
        return
    company = ctx.state.lookups.company_of(org.id, view.caller.company if view.caller else "", view.org_version)
    with metrics.policy_timer("dialplan"):
        dest = classify(dialled, company)
        # No session yet (the agent never registered): the company's current setting applies.
        blocks = view.session.block_calls_during_pause if view.session else company.block_calls_during_pause
        refusal = pause_refusal(view.status, blocks, dest.kind is DestKind.EMERGENCY)
    kind = dest.kind.value
    if refusal is not None and invite:
        metrics.pause_block(org.id, view.status.pause)
        attendances.refused(ctx, org.id, _origin(dest), _direction(dest), user, dest.number or dialled,
                            "pause", refusal.reason)
        refuse(org.id, kind, refusal.status, refusal.reason, refusal.headers)
        return
    if dest.kind is DestKind.INVALID:
        if dest.reason == NOT_AUTHORISED and invite:
            metrics.country_block(org.id, "country_not_allowed")
            attendances.refused(ctx, org.id, "outbound", "outbound", user, dest.number or dialled, "country",
                                dest.reason)
        refuse(org.id, kind, dest.status, dest.reason)
        return
    if dest.kind is DestKind.AGENT:
        if not view.callee_read:  # the script's company hint lagged a change of the org (rare)
            view = ctx.state.call_views.call_view(org.id, user, pv("$si"), dialled, "")
        _to_agent(ctx, org, user, dest, view)
    elif dest.kind is DestKind.SERVICE:
        _to_service(ctx, org, user, dest, view)
    elif dest.to_carrier and KSR.is_INVITE() > 0:
        _to_carrier(ctx, org, user, dest, view, company)
    else:
        refuse(org.id, kind, 403, "Only Calls Go To Carriers")


def _origin(dest: Destination) -> str:
    return "direct" if dest.kind in (DestKind.AGENT, DestKind.SERVICE) else "outbound"


def _direction(dest: Destination) -> str:
    return "internal" if dest.kind in (DestKind.AGENT, DestKind.SERVICE) else "outbound"


def _to_agent(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    kind = dest.kind.value
    refusal = callee_refusal(view.callee is not None, bool(view.callee and view.callee.dnd),
                             bool(view.callee_bindings))
    if refusal is not None:
        refuse(org.id, kind, refusal.status, refusal.reason)
    elif KSR.is_INVITE() > 0:
        callee = dest.number
        plan: attendances.Plan = (
            attendances.Conference(caller, callee) if attendances.conference_marked()
            else attendances.NewAttendance("direct", "internal", actor=caller, target=callee)
        )
        record = CallRecord(org=org.id, kind=kind, agents=[caller, callee], answered_by=callee,
                            record_rule=automatic_reason((view.caller, view.callee)))
        relay_call(ctx, Call(record, ToAgent(view.callee_bindings), plan, from_carrier=False))
    else:
        relay_message(ctx, view.callee_bindings)


def _to_carrier(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView, company: Company) -> None:
    gateways = ctx.state.lookups.gateways_cached(view.gateways_version)
    if not gateways:
        refuse(org.id, dest.kind.value, 503, "No Carrier Gateway")
        return
    record = CallRecord(org=org.id, kind=dest.kind.value, agents=[caller], answered_by=dest.number,
                        record_rule=automatic_reason((view.caller,), gateway=gateways[0]))
    plan = attendances.NewAttendance("outbound", "outbound", actor=caller, target=dest.number)
    identity = callerid.outbound(ctx, org.id, caller, company, dest.kind is DestKind.EMERGENCY)
    if identity is None:
        refuse(org.id, dest.kind.value, *NOT_ALLOWED)
        return
    topology.note(gateways)  # its messages to them are masked from the first one on
    relay_call(ctx, Call(record, ToGateways(carriers.attempts(gateways, dest.number), identity), plan,
                         callee_codecs=tuple(gateways[0].codecs)))


def _to_service(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    """Queues offer the call to their members; IVRs and conferences are relayed to their URI."""
    kind = dest.kind.value
    service = view.service
    if service is None:
        refuse(org.id, kind, 404, "Service Not Found")
        return
    if KSR.is_INVITE() <= 0:
        refuse(org.id, kind, 405, "Only Calls Go To Services")
        return
    if service.kind != "queue" and not service.target_uri:
        refuse(org.id, kind, 480, "Service Not Available")
        return
    record = CallRecord(org=org.id, kind=kind, agents=[caller], record_rule=automatic_reason((view.caller,), service))
    plan: attendances.Plan
    if service.kind == "queue":
        target: Target = ToQueue(queues.queue_call(org, service))
        plan = attendances.NewAttendance("queue", "internal", actor=caller, target=service.ext, queue=service.ext)
    else:
        target, record.answered_by = ToUri(service.target_uri), service.ext
        plan = (attendances.Conference(caller, service.ext) if service.kind == "conference"
                else attendances.NewAttendance("direct", "internal", actor=caller, target=service.ext))
    relay_call(ctx, Call(record, target, plan, from_carrier=False))


def _target_in_org(ctx: Context, org: Org) -> bool:
    """Tenants never see each other: the R-URI must name the caller's org or this edge."""
    return pv("$rd").lower() == org.domain or KSR.is_myself_ruri() > 0
