"""Initial requests from agents (INVITE, MESSAGE): authenticate, apply the dial plan, relay."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy.company import DEFAULT_COMPANY
from kemi_app.policy.dialplan import DestKind, classify
from kemi_app.policy.registration import Binding
from kemi_app.sip import media
from kemi_app.sip.auth import authenticate
from kemi_app.sip.context import Context, pv, reply
from kemi_app.sip.nat import fix_contact
from kemi_app.state import Org


def handle_initial(ctx: Context) -> None:
    org = ctx.state.org_by_domain(pv("$fd"))
    if org is None:
        refuse("", metrics.UNKNOWN, 403, "Unknown Domain")
        return
    if authenticate(ctx, org) is None:
        return
    if not _target_in_org(ctx, org):
        refuse(org.id, "other_org", 404, "Not Found")
        return
    with metrics.policy_timer("dialplan"):
        dest = classify(pv("$rU"), DEFAULT_COMPANY)
    kind = dest.kind.value
    if dest.kind is DestKind.INVALID:
        refuse(org.id, kind, dest.status, dest.reason)
        return
    if dest.kind is not DestKind.AGENT:
        refuse(org.id, kind, 404, "Service Not Found")
        return
    exists, bindings = ctx.state.agent_bindings(org.id, dest.number)
    if not exists:
        refuse(org.id, kind, 404, "Extension Not Found")
        return
    if not bindings:
        refuse(org.id, kind, 480, "Agent Not Registered")
        return
    relay_to_bindings(ctx, bindings, org.id, kind)


def refuse(org_id: str, kind: str, status: int, reason: str) -> None:
    """Answers an initial request; for an INVITE that answer is the call's final status."""
    if KSR.is_INVITE() > 0:
        metrics.call_final(org_id, kind, status)
    reply(status, reason)


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


def track_call(org_id: str, kind: str) -> None:
    """Dialog-tracks an INVITE; its final status is counted once, by the dialog events
    (answered) or the failure route (refused, cancelled, timed out): see sip/routes.py."""
    KSR.rr.record_route()
    KSR.dialog.dlg_manage()
    KSR.pv.sets("$dlg_var(org)", org_id)
    KSR.pv.sets("$dlg_var(kind)", kind)
    KSR.tm.t_on_failure("ksr_call_failure")


def relay_to_bindings(ctx: Context, bindings: list[Binding], org_id: str, kind: str) -> None:
    """Fork to every binding: extra ones become branches, the first stays the main R-URI."""
    if KSR.is_INVITE() > 0:
        track_call(org_id, kind)
        media.prepare_initial(ctx)
    fix_contact()
    for binding in bindings[1:]:
        _branch_to(ctx, binding)
        KSR.corex.append_branch()
    _branch_to(ctx, bindings[0])
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
