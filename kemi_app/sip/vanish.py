"""A vanished agent (its WebSocket closed: tab closed, network lost) leaves no stuck call:
its bindings on that connection go, its calls on that connection are ended (BYE to the
other side), and the history says why. Offline follows from the agent having no binding left.
Calls that entered another edge node are anchored there: that node is told through its inbox
(state.nodes) and ends them the same way within a second (`ended_elsewhere`).

The close is seen in Kamailio's TCP main process, which cannot send on TCP connections (a BYE
to a TCP peer fails there with "Socket operation on non-socket") and must not wait on Redis:
it only queues the peer's address (mqueue, shared memory); an rtimer process, which can send
like a SIP worker, takes the queue every 100 ms and does the work."""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import AGENT_GONE, Event
from kemi_app.policy.reconcile import CONFIRMED
from kemi_app.policy.registration import Binding, RegisterOutcome
from kemi_app.sip import connections, dialogs, rpc
from kemi_app.sip.callstate import AGENT_PROFILE, agent_key
from kemi_app.sip.cluster import peer_nodes
from kemi_app.sip.context import Context, pv


def _same_contact(dialog_contact: str, contact: str) -> bool:
    # The dialog keeps the contact as the agent sent it; the binding too (no alias params).
    return dialog_contact.split(";", 1)[0] == contact.split(";", 1)[0]


def _peer_of(binding: Binding) -> str:
    return binding.received.removeprefix("sip:").split(";", 1)[0]


SIDES = ("caller", "callee")  # of a dialog, as dlg.profile_list and dlg_bye name them
EARLY = (1, 2)  # dialog module states of a call not answered yet (unconfirmed, early)
QUEUE = "vanished"  # kamailio.cfg: modparam mqueue and the rtimer that drains it
DRAIN_MAX = 500  # per timer run, so one run never holds its process for long


def queue_closed_connection() -> None:
    """tcpops event (TCP main process): queue the peer; tcpops gives its address, not the id."""
    KSR.mqueue.mq_add(QUEUE, f"{pv('$si')}:{pv('$sp')}", "closed")


def drain_closed_connections(ctx: Context) -> None:
    """rtimer route: end the calls of every agent whose connection closed since the last run."""
    for _ in range(DRAIN_MAX):
        if KSR.mqueue.mq_fetch(QUEUE) <= 0:
            return
        peer = pv(f"$mqk({QUEUE})")
        try:
            on_connection_closed(ctx, peer)
        except Exception as e:  # one agent's failure (Redis down) must not strand the others
            metrics.route_exception("vanished")
            KSR.err(f"vanished connection {peer}: calls not ended: {e!r}\n")


def on_connection_closed(ctx: Context, peer: str) -> None:
    node = ctx.settings.node_uri
    owner = connections.closed_owner(peer)
    if owner is None:
        return
    org_id, ext = owner
    gone: list[Binding] = []

    def drop(current: list[Binding]) -> RegisterOutcome:
        gone.extend(b for b in current if b.node == node and _peer_of(b) == peer)
        return RegisterOutcome(200, "OK", [b for b in current if b not in gone])

    left = ctx.state.registrations.update_bindings(org_id, ext, drop).bindings
    contacts = [b.contact for b in gone]
    if contacts and ctx.settings.peers:
        # Calls that entered another node were anchored there: that node ends them.
        ctx.state.nodes.send(peer_nodes(ctx), {"org": org_id, "ext": ext, "contacts": contacts})
    ended, stopped = end_calls(ctx, org_id, ext, contacts, still_registered=bool(left))
    KSR.notice(f"agent {ext}@{org_id} vanished (connection from {peer}): "
               f"{len(gone)} binding(s) removed, {ended} call(s) ended, {stopped} stopped ringing\n")


def ended_elsewhere(ctx: Context) -> None:
    """rtimer: agents who vanished from other nodes; their calls anchored here end."""
    for message in ctx.state.nodes.receive(ctx.settings.node_uri):
        org_id, ext, contacts = str(message["org"]), str(message["ext"]), message["contacts"]
        if not isinstance(contacts, list):
            continue
        # The vanished leg runs through the node that saw it go: a BYE that way ends the dialog
        # that node tracks for it (it cannot reach the agent any more, and need not).
        ended, _ = end_calls(ctx, org_id, ext, [str(c) for c in contacts], bye_vanished=True)
        if ended:
            KSR.notice(f"agent {ext}@{org_id} vanished from another node: {ended} call(s) ended here\n")


def end_calls(ctx: Context, org_id: str, ext: str, contacts: list[str], bye_vanished: bool = False,
              still_registered: bool = True) -> tuple[int, int]:
    """Ends the agent's answered calls on this node that ran over the vanished contacts and,
    when it has no device left, stops its calls still ringing. Returns (ended, stopped)."""
    listed = agent_dialogs(agent_key(org_id, ext)) if contacts else []
    calls = answered_over(listed, contacts)
    ringing = [] if still_registered else [dlg for dlg in listed if dlg.get("state") in EARLY]
    now = time.time()
    # The history says why before the call's end is recorded.
    ctx.state.history.record_events(*(
        Event(att.id, AGENT_GONE, now, org_id, actor=ext, result="call ended", reason="websocket closed",
              call_id=dlg["call-id"])
        for dlg in calls
        if (att := ctx.state.history.attendance_by_call(dlg["call-id"])) is not None
    ))
    for dlg in calls:
        _hang_up(ctx, dlg, [] if bye_vanished else contacts)
    for dlg in ringing:
        _stop_ringing(dlg, contacts)
    return len(calls), len(ringing)


def _contact(dlg: dict, side: str) -> str:
    """A side's contact as dlg.profile_list has it: null for a callee still ringing."""
    return str((dlg.get(side) or {}).get("contact") or "")


def _vanished_sides(dlg: dict, gone: list[str]) -> list[str]:
    return [side for side in SIDES if any(_same_contact(_contact(dlg, side), c) for c in gone)]


def _hang_up(ctx: Context, dlg: dict, gone: list[str]) -> None:
    """The call's end is handled here, then a BYE goes to the side still there (both, for an
    agent who called itself, or when no side is named `gone`); the vanished side has no
    connection left. The dialog module
    raises dialog:end after its BYE only if no reply ended the dialog first, and a 200 over
    TCP can: so the end (rtpengine, call records, history) does not wait for that event."""
    vanished = _vanished_sides(dlg, gone)
    side = "all" if len(vanished) in (0, len(SIDES)) else next(s for s in SIDES if s not in vanished)
    call_id = dlg.get("call-id", "")
    tags = [str((dlg.get(s) or {}).get("tag") or "") for s in SIDES]
    if KSR.dialog.dlg_get(call_id, *tags) <= 0:
        KSR.err(f"vanished agent's call-id={call_id}: dialog not found\n")
        return
    dialogs.on_event(ctx, "dialog:end")
    if KSR.dialog.dlg_bye(side) <= 0:
        KSR.err(f"vanished agent's call-id={call_id}: BYE to {side} failed\n")


def agent_dialogs(profile_value: str) -> list[dict]:
    """The agent's dialogs, as dlg.profile_list has them."""
    listed = rpc.call("dlg.profile_list", AGENT_PROFILE, profile_value) or []
    return [d for d in (listed if isinstance(listed, list) else [listed]) if isinstance(d, dict)]


def answered_over(dialogs: list[dict], gone: list[str]) -> list[dict]:
    """The answered dialogs that ran over the vanished contacts: their BYE goes to the other
    side. A call still ringing has no callee contact yet, and no BYE to send."""
    return [dlg for dlg in dialogs if dlg.get("state") == CONFIRMED and _vanished_sides(dlg, gone)]


def _stop_ringing(dlg: dict, gone: list[str]) -> None:
    """A call not answered yet: the vanished agent called (its INVITE is cancelled) or was
    being rung (its caller gets 480). The dialog module then raises dialog:failed."""
    call_id, cseq = str(dlg.get("call-id", "")), str((dlg.get("caller") or {}).get("cseq") or "")
    if "caller" in _vanished_sides(dlg, gone):
        done = KSR.tmx.t_cancel_callid(call_id, cseq, 0)
    else:
        done = KSR.tmx.t_reply_callid(call_id, cseq, 480, "Agent Gone")
    if done <= 0:
        KSR.notice(f"vanished agent's call-id={call_id}: its ringing could not be stopped\n")
