"""A vanished agent (its WebSocket closed: tab closed, network lost) leaves no stuck call:
its bindings on that connection go, its calls on that connection are ended (BYE to both
legs), and the history says why. Offline follows from the agent having no binding left."""

from __future__ import annotations

import time

import KSR

from kemi_app.policy.attendance import AGENT_GONE, Event
from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.sip import rpc
from kemi_app.sip.context import Context, pv
from kemi_app.sip.relay import agent_key


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
    ended = end_calls_on(agent_key(org_id, ext), gone)
    KSR.notice(f"agent {ext}@{org_id} vanished (connection from {peer}): "
               f"{len(gone)} binding(s) removed, {len(ended)} call(s) ended\n")
    now = time.time()
    events = [
        Event(att.id, AGENT_GONE, now, org_id, actor=ext, result="call ended", reason="websocket closed",
              call_id=call_id)
        for call_id in ended
        if (att := ctx.state.attendance_by_call(call_id)) is not None
    ]
    ctx.state.record_events(*events)


def end_calls_on(profile_value: str, gone: list[Binding]) -> list[str]:
    """Ends the agent's dialogs that ran over the vanished bindings; returns their Call-IDs."""
    if not gone:
        return []
    dialogs = rpc.call("dlg.profile_list", "agent", profile_value) or []
    ended = []
    for dlg in dialogs if isinstance(dialogs, list) else [dialogs]:
        contacts = (dlg.get("caller", {}).get("contact", ""), dlg.get("callee", {}).get("contact", ""))
        if any(_same_contact(c, b) for c in contacts for b in gone):
            rpc.call("dlg.end_dlg", dlg["h_entry"], dlg["h_id"])
            ended.append(dlg.get("call-id", ""))
    return ended
