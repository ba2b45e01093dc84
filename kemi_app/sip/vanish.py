"""A vanished agent (its WebSocket closed: tab closed, network lost) leaves no stuck call:
its bindings on that connection go, its calls on that connection are ended (BYE to both
legs), and the history says why. Offline follows from the agent having no binding left."""

from __future__ import annotations

import time

import KSR

from kemi_app.policy.attendance import AGENT_GONE, Event
from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.sip import rpc
from kemi_app.sip.callstate import AGENT_PROFILE, agent_key
from kemi_app.sip.context import Context, pv


def _same_contact(dialog_contact: str, binding: Binding) -> bool:
    # The dialog keeps the contact as the agent sent it; the binding too (no alias params).
    return dialog_contact.split(";", 1)[0] == binding.contact.split(";", 1)[0]


def _peer_of(binding: Binding) -> str:
    return binding.received.removeprefix("sip:").split(";", 1)[0]


def on_connection_closed(ctx: Context) -> None:
    # tcpops gives the peer's address here, not the connection id.
    peer = f"{pv('$si')}:{pv('$sp')}"
    node = ctx.settings.node_uri
    owner = ctx.state.connection_owner(node, peer)
    if owner is None:
        return
    org_id, ext = owner
    gone: list[Binding] = []

    def drop(current: list[Binding]) -> RegisterOutcome:
        gone.extend(b for b in current if b.node == node and _peer_of(b) == peer)
        return RegisterOutcome(200, "OK", [b for b in current if b not in gone])

    ctx.state.update_bindings(org_id, ext, drop)
    calls = calls_on(agent_key(org_id, ext), gone)
    now = time.time()
    # The history says why before the call's end is recorded.
    ctx.state.record_events(*(
        Event(att.id, AGENT_GONE, now, org_id, actor=ext, result="call ended", reason="websocket closed",
              call_id=dlg["call-id"])
        for dlg in calls
        if (att := ctx.state.attendance_by_call(dlg["call-id"])) is not None
    ))
    for dlg in calls:
        rpc.call("dlg.end_dlg", dlg["h_entry"], dlg["h_id"])
    KSR.notice(f"agent {ext}@{org_id} vanished (connection from {peer}): "
               f"{len(gone)} binding(s) removed, {len(calls)} call(s) ended\n")


def calls_on(profile_value: str, gone: list[Binding]) -> list[dict]:
    """The agent's dialogs that ran over the vanished bindings (as dlg.profile_list has them)."""
    if not gone:
        return []
    listed = rpc.call("dlg.profile_list", AGENT_PROFILE, profile_value) or []
    dialogs: list[dict] = listed if isinstance(listed, list) else [listed]
    return [
        dlg for dlg in dialogs
        if any(_same_contact(dlg.get(side, {}).get("contact", ""), b) for side in ("caller", "callee") for b in gone)
    ]
