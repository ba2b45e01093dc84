"""Initial requests from agents (INVITE, MESSAGE): authenticate, apply the pause rule and the
dial plan, then relay to an agent, a service or the carrier gateways."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy.dialplan import NOT_AUTHORISED, Destination, DestKind, classify
from kemi_app.policy.pause import pause_refusal
from kemi_app.policy.registration import Binding
from kemi_app.sip import carriers, media
from kemi_app.sip.auth import has_credentials, verify
from kemi_app.sip.context import Context, pv, reply
from kemi_app.sip.nat import fix_contact
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
        refuse(org.id, kind, refusal.status, refusal.reason, refusal.headers)
        return
    if dest.kind is DestKind.INVALID:
        if dest.reason == NOT_AUTHORISED and KSR.is_INVITE() > 0:
            metrics.country_block(org.id, "country_not_allowed")
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
    carriers.first_attempt(ctx, gateways, dest.number)


def _to_service(ctx: Context, org: Org, caller: str, dest: Destination, view: CallView) -> None:
    """IVRs and conferences with a target URI are relayed there; queues come with issue 4."""
    kind = dest.kind.value
    service = view.service
    if service is None:
        refuse(org.id, kind, 404, "Service Not Found")
        return
    if not service.target_uri:
        refuse(org.id, kind, 480, "Queue Not Available")
        return
    if KSR.is_INVITE() > 0:
        track_call(org.id, kind, agents=(caller,))
        media.prepare_initial(ctx)
    fix_contact()
    KSR.seturi(service.target_uri)
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()


def refuse(org_id: str, kind: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    """Answers an initial request; for an INVITE that answer is the call's final status."""
    if KSR.is_INVITE() > 0:
        metrics.call_final(org_id, kind, status)
    reply(status, reason, headers)


def _target_in_org(ctx: Context, org: Org) -> bool:
    """Tenants never see each other: the R-URI must name the caller's org or this edge."""
    return pv("$rd").lower() == org.domain or KSR.is_myself_ruri() > 0


def _branch_to(ctx: Context, binding: Binding) -> None:
    KSR.seturi(binding.contact)
    if binding.node == ctx.settings.node_uri:
        KSR.setdsturi(binding.received)
        KSR.corex.set_send_socket(binding.socket)
    else:
        # The connection lives on another edge node: hand the request to it.
        KSR.setdsturi(binding.node)


def track_call(org_id: str, kind: str, agents: tuple[str, ...] = ()) -> None:
    """Dialog-tracks an INVITE; its final status is counted once, by the dialog events
    (answered) or the failure route (refused, cancelled, timed out): see sip/routes.py.
    `agents` (extensions of org_id) are in-call while the dialog lasts (sip/dialogs.py) and
    join the `agent` profile, so their calls can be ended if they vanish (sip/vanish.py)."""
    KSR.rr.record_route()
    KSR.dialog.dlg_manage()
    KSR.pv.sets("$dlg_var(org)", org_id)
    KSR.pv.sets("$dlg_var(kind)", kind)
    KSR.pv.sets("$dlg_var(agents)", ",".join(agents))
    for ext in agents:
        KSR.dialog.set_dlg_profile("agent", agent_key(org_id, ext))
    KSR.tm.t_on_failure("ksr_call_failure")


def keepalive(caller_ws: bool, callee_ws: bool) -> None:
    """In-dialog OPTIONS end a call whose side vanished without a BYE. The dialog module cannot
    reach WebSocket contacts (*.invalid), so those legs rely on the connection event instead."""
    if not caller_ws:
        KSR.dialog.dlg_set_property("ka-src")
    if not callee_ws:
        KSR.dialog.dlg_set_property("ka-dst")


def agent_key(org_id: str, ext: str) -> str:
    return f"{org_id}:{ext}"


def relay_to_bindings(
    ctx: Context, bindings: list[Binding], org_id: str, kind: str, agents: tuple[str, ...] = ()
) -> None:
    """Fork to every binding: extra ones become branches, the first stays the main R-URI."""
    if KSR.is_INVITE() > 0:
        track_call(org_id, kind, agents)
        media.prepare_initial(ctx)
        keepalive(KSR.is_WSX() > 0, any(b.received.endswith(("=ws", "=wss")) for b in bindings))
    fix_contact()
    for binding in bindings[1:]:
        _branch_to(ctx, binding)
        KSR.corex.append_branch()
    _branch_to(ctx, bindings[0])
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
