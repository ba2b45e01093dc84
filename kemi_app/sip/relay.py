"""One path for every initial INVITE the edge relays.

The handlers (agent calls, services, queues, carriers, inbound DIDs, transfers) only decide
where a call goes and what its record says; `relay_call` then runs the same steps in the
same order for all of them: track the dialog, arm media, keepalives, NAT, attendance,
headers, save the call state, relay.
"""

from __future__ import annotations

from dataclasses import dataclass

import KSR

from kemi_app.policy.callerid import Identity
from kemi_app.policy.keepalive import keepalives
from kemi_app.policy.registration import Binding
from kemi_app.sip import attendances, callerid, carriers, dialog_guard, media, queues
from kemi_app.sip.callstate import AGENT_PROFILE, CallRecord, GatewayAttempt, QueueCall, Transaction, agent_key
from kemi_app.sip.context import Context
from kemi_app.sip.forking import fork
from kemi_app.sip.nat import fix_contact
from kemi_app.sip.tmroutes import CALL_FAILURE_ROUTE


@dataclass(frozen=True)
class ToAgent:
    bindings: list[Binding]  # every registered device of one agent, rung at once


@dataclass(frozen=True)
class ToUri:
    uri: str  # an IVR or conference (this org's or, after an inter-org transfer, another's)


@dataclass(frozen=True)
class ToGateways:
    attempts: list[GatewayAttempt]  # carrier gateways in the order they are tried
    identity: Identity  # what the call presents to them (the company's DID, never the extension)


@dataclass(frozen=True)
class ToQueue:
    queue: QueueCall  # offered to one free member at a time
    first: queues.FirstPick | None = None  # its first member, picked before (sip/inbound.py)


Target = ToAgent | ToUri | ToGateways | ToQueue


@dataclass(frozen=True)
class Call:
    record: CallRecord  # org, kind, agents and who answers; the attendance is filled in here
    target: Target
    attendance: attendances.Plan
    callee_codecs: tuple[str, ...] = ()  # a gateway's codec setting: all that is offered to it
    headers: tuple[str, ...] = ()  # added to the relayed INVITE
    announce_attendance: bool = False  # X-Edge-Attendance names the attendance to the callee
    # Did the INVITE come from a carrier gateway? Set by the handlers that already checked,
    # None: looked up here.
    from_carrier: bool | None = None


def relay_call(ctx: Context, call: Call) -> None:
    """The steps of every relayed initial INVITE, in this order. The call is tracked and its
    attendance recorded before the INVITE leaves, so no reply can beat them."""
    record, tx = call.record, Transaction()
    _track(ctx, record)
    callee_ws = _callee_on_websocket(call.target)
    media.prepare_initial(ctx, record, tx, call.callee_codecs, callee_ws is True)
    keepalive(KSR.is_WSX() > 0, callee_ws)
    fix_contact()
    record.attendance = attendances.open_for(ctx, record.org, call.attendance)
    for header in call.headers:
        KSR.hdr.append(header + "\r\n")
    if call.announce_attendance:
        KSR.hdr.append(f"X-Edge-Attendance: {record.attendance}\r\n")
    record.carrier_side = callerid.carrier_side(ctx, isinstance(call.target, ToGateways), call.from_carrier)
    tx.customer_caller = record.carrier_side == callerid.CALLER
    record.save()
    if not _dispatch(ctx, call.target, record, tx):
        KSR.sl.sl_reply_error()


def _track(ctx: Context, record: CallRecord) -> None:
    """Dialog-tracks the INVITE; its final status is counted once, by the dialog events
    (answered) or a failure route (refused, cancelled, timed out): see sip/routes.py.
    Its agents are in-call while the dialog lasts (sip/dialogs.py) and join the agent
    profile, so their calls can be ended if they vanish (sip/vanish.py)."""
    dialog_guard.record_route(ctx)  # signed: only this dialog's requests are routed by it
    KSR.dialog.dlg_manage()
    for ext in record.agents:
        KSR.dialog.set_dlg_profile(AGENT_PROFILE, agent_key(record.org, ext))
    KSR.tm.t_on_failure(CALL_FAILURE_ROUTE)


def keepalive(caller_ws: bool, callee_ws: bool | None) -> None:
    """In-dialog OPTIONS end a call whose side vanished without a BYE (policy/keepalive.py)."""
    for side in keepalives(caller_ws, callee_ws):
        KSR.dialog.dlg_set_property(side)


def _callee_on_websocket(target: Target) -> bool | None:
    if isinstance(target, ToAgent):
        return any(b.on_websocket for b in target.bindings)
    return None if isinstance(target, ToQueue) else False  # a queue's member is known on its answer


def _dispatch(ctx: Context, target: Target, record: CallRecord, tx: Transaction) -> bool:
    if isinstance(target, ToAgent):
        tx.save()
        return fork(ctx, target.bindings, tx)
    if isinstance(target, ToUri):
        tx.save()
        KSR.seturi(target.uri)
        return media.relay(ctx)
    if isinstance(target, ToGateways):
        callerid.present(target.identity)
        return carriers.relay(ctx, tx, target.attempts)
    queues.start(ctx, tx, target.queue, record.attendance, target.first)
    return True  # the queue answers the caller itself when nobody can be offered the call


def relay_message(ctx: Context, bindings: list[Binding]) -> None:
    """A MESSAGE between agents: no dialog, no media, no history; just the devices."""
    fix_contact()
    if not fork(ctx, bindings):
        KSR.sl.sl_reply_error()
