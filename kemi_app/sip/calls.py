"""Initial requests from agents (INVITE, MESSAGE): authenticate, apply the pause rule and the
dial plan, then relay to an agent, a service or the carrier gateways."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy.dialplan import NOT_AUTHORISED, Destination, DestKind, classify
from kemi_app.policy.pause import pause_refusal
from kemi_app.policy.registration import Binding
from kemi_app.sip import attendances, carriers, media, queues
from kemi_app.sip.auth import has_credentials, verify
from kemi_app.sip.context import Context, pv
from kemi_app.sip.nat import fix_contact
from kemi_app.sip.relay import fork, keepalive, refuse, track_call
from kemi_app.state import CallView, Org


def handle_initial(ctx: Context) -> None:
    org = ctx.state.org_by_domain(pv("$fd"))
    if org is None:
        refuse("", metrics.UNKNOWN, 403, "Unknown Domain")
        return
    if not has_credentials(org):
        return
    user, dialled = pv("$au"), pv("$rU")
    # One round trip: credentials, the caller's state and session, the dialled agent or service.
    view = ctx.state.call_view(org.id, user, pv("$si"), dialled)
    if verify(ctx, org, user, view.auth) is None:
        return
    if not _target_in_org(ctx, org):
        refuse(org.id, "other_org", 404, "Not Found")
        return
    company = ctx.state.company_of(org.id, view.caller.company if view.caller else "", view.org_version)
    with metrics.policy_timer("dialplan"):
        dest = classify(dialled, company)
        # No session yet (the agent never registered): the company's current setting applies.
        blocks = view.session.block_calls_during_pause if view.session else company.block_calls_during_pause
        refusal = pause_refusal(view.status, blocks, dest.kind is DestKind.EMERGENCY)
    kind = dest.kind.value
    if refusal is not None and KSR.is_INVITE() > 0:
        metrics.pause_block(org.id, view.status.pause)
        attendances.refused(ctx, org.id, _origin(dest), _direction(dest), user, dest.number or dialled,
                            "pause", refusal.reason)
        refuse(org.id, kind, refusal.status, refusal.reason, refusal.headers)
        return
    if dest.kind is DestKind.INVALID:
        if dest.reason == NOT_AUTHORISED and KSR.is_INVITE() > 0:
            metrics.country_block(org.id, "country_not_allowed")
            attendances.refused(ctx, org.id, "outbound", "outbound", user, dest.number or dialled, "country",
                                dest.reason)
        refuse(org.id, kind, dest.status, dest.reason)
        return
    if dest.kind is DestKind.AGENT:
        _to_agent(ctx, org, user, dest, view)
    elif dest.kind is DestKind.SERVICE:
        _to_service(ctx, org, user, dest, view)
    elif KSR.is_INVITE() > 0:
        _to_carrier(ctx, org, user, dest, view)
    else:
        refuse(org.id, kind, 403, "Only Calls Go To Carriers")


def _origin(dest: Destination) -> str:
    return "direct" if dest.kind in (DestKind.AGENT, DestKind.SERVICE) else "outbound"


def _direction(dest: Destination) -> str:
    return "internal" if dest.kind in (DestKind.AGENT, DestKind.SERVICE) else "outbound"


def _to_agent(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    kind = dest.kind.value
    if view.callee is None:
        refuse(org.id, kind, 404, "Extension Not Found")
    elif view.callee.dnd:
        refuse(org.id, kind, 486, "Do Not Disturb")
    elif not view.callee_bindings:
        refuse(org.id, kind, 480, "Agent Not Registered")
    else:
        relay_to_bindings(ctx, view.callee_bindings, org.id, kind, agents=(caller, dest.number))


def _to_carrier(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    gateways = ctx.state.gateways_cached(view.gateways_version)
    if not gateways:
        refuse(org.id, dest.kind.value, 503, "No Carrier Gateway")
        return
    track_call(org.id, dest.kind.value, agents=(caller,))
    media.prepare_initial(ctx, tuple(gateways[0].codecs))
    fix_contact()
    attendances.begin(ctx, org.id, "outbound", "outbound", actor=caller, target=dest.number)
    KSR.pv.sets(attendances.DLG_ANSWERED_BY, dest.number)
    carriers.first_attempt(ctx, gateways, dest.number)


def _to_service(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    """Queues offer the call to their members; IVRs and conferences are relayed to their URI."""
    kind = dest.kind.value
    service = view.service
    if service is None:
        refuse(org.id, kind, 404, "Service Not Found")
        return
    if KSR.is_INVITE() < 0:
        refuse(org.id, kind, 405, "Only Calls Go To Services")
        return
    if service.kind == "queue":
        track_call(org.id, kind, agents=(caller,))
        media.prepare_initial(ctx)
        fix_contact()
        att = attendances.begin(ctx, org.id, "queue", "internal", actor=caller, target=service.ext,
                                queue=service.ext)
        queues.start(ctx, queues.QueueCall.of(org, service), att.id)
        return
    if not service.target_uri:
        refuse(org.id, kind, 480, "Service Not Available")
        return
    track_call(org.id, kind, agents=(caller,))
    media.prepare_initial(ctx)
    fix_contact()
    if service.kind == "conference":
        attendances.join_conference(ctx, org.id, caller, service.ext)
    else:
        attendances.begin(ctx, org.id, "direct", "internal", actor=caller, target=service.ext)
    KSR.pv.sets(attendances.DLG_ANSWERED_BY, service.ext)
    KSR.seturi(service.target_uri)
    if not media.relay(ctx):
        KSR.sl.sl_reply_error()


def _target_in_org(ctx: Context, org: Org) -> bool:
    """Tenants never see each other: the R-URI must name the caller's org or this edge."""
    return pv("$rd").lower() == org.domain or KSR.is_myself_ruri() > 0


def relay_to_bindings(
    ctx: Context, bindings: list[Binding], org_id: str, kind: str, agents: tuple[str, str]
) -> None:
    """An agent's call (or MESSAGE) to another agent: caller first, callee last in `agents`.
    Calls are tracked and recorded before the INVITE leaves, so no reply can beat them."""
    if KSR.is_INVITE() > 0:
        track_call(org_id, kind, agents)
        media.prepare_initial(ctx)
        keepalive(KSR.is_WSX() > 0, any(b.received.endswith(("=ws", "=wss")) for b in bindings))
        caller, callee = agents[0], agents[-1]
        if not attendances.join_conference_if_marked(ctx, org_id, caller, callee):
            attendances.begin(ctx, org_id, "direct", "internal", actor=caller, target=callee)
        KSR.pv.sets(attendances.DLG_ANSWERED_BY, callee)
    fix_contact()
    if not fork(ctx, bindings):
        KSR.sl.sl_reply_error()
