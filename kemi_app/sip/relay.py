"""Relaying an initial INVITE: dialog tracking, forking to an agent's bindings, refusals."""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy.registration import Binding
from kemi_app.sip import media
from kemi_app.sip.context import Context, reply


def refuse(org_id: str, kind: str, status: int, reason: str, headers: tuple[str, ...] = ()) -> None:
    """Answers an initial request; for an INVITE that answer is the call's final status."""
    if KSR.is_INVITE() > 0:
        metrics.call_final(org_id, kind, status)
    reply(status, reason, headers)


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


def fork(ctx: Context, bindings: list[Binding]) -> bool:
    """Relays to every binding of one agent: extra ones become branches, the first stays
    the main R-URI. Works from the request route and from a failure route."""
    for binding in bindings[1:]:
        _branch_to(ctx, binding)
        KSR.corex.append_branch()
    _branch_to(ctx, bindings[0])
    return media.relay(ctx)
