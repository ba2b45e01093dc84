"""Every call belongs to an attendance: created when the call first enters the edge, carried
on the dialog (dialog variable `att`), and written to its history as the call moves."""

from __future__ import annotations

import time

import KSR

from kemi_app.policy.attendance import (
    ANSWER,
    CONFERENCE,
    END,
    REFUSED,
    RING,
    START,
    Attendance,
    Event,
    new_attendance_id,
)
from kemi_app.sip.context import Context, pv

DLG_ATT = "$dlg_var(att)"
DLG_ANSWERED_BY = "$dlg_var(answered_by)"


def begin(ctx: Context, org: str, origin: str, direction: str, actor: str, target: str,
          queue: str = "", detail: str = "") -> Attendance:
    """A new attendance for the initial INVITE being routed; its Call-ID is the first leg."""
    now = time.time()
    call_id = pv("$ci")
    att = Attendance(
        id=new_attendance_id(now), org=org, origin=origin, direction=direction, created_at=now, queue=queue,
        entered_through_queue=origin == "queue", customer_call=call_id if direction == "inbound" else "",
    )
    ctx.state.create_attendance(att, call_id, Event(att.id, START, now, org, actor=actor, target=target,
                                                    call_id=call_id, detail=detail))
    KSR.pv.sets(DLG_ATT, att.id)
    return att


def refused(ctx: Context, org: str, origin: str, direction: str, actor: str, target: str, rule: str,
            reason: str) -> None:
    """A call the policy refused before it went anywhere still has an attendance whose
    history says why: start, refused, end, written at once."""
    now = time.time()
    call_id = pv("$ci")
    att = Attendance(id=new_attendance_id(now), org=org, origin=origin, direction=direction, created_at=now)
    ctx.state.create_attendance(att, call_id, Event(att.id, START, now, org, actor=actor, target=target,
                                                    call_id=call_id))
    ctx.state.record_events(
        Event(att.id, REFUSED, now, org, actor=actor, target=target, result=rule, reason=reason, call_id=call_id),
        Event(att.id, END, now, org, actor=actor, result="refused", call_id=call_id),
    )


CONFERENCE_HEADER = "X-Edge-Conference"  # a client marks a second leg as part of a conference


def join_conference(ctx: Context, org: str, agent: str, target: str) -> str:
    """A conference leg joins the attendance the agent is on (a new one if none)."""
    att_id = ctx.state.current_attendance(org, agent)
    if not att_id:
        return begin(ctx, org, "direct", "internal", actor=agent, target=target).id
    call_id = pv("$ci")
    ctx.state.link_leg(att_id, call_id, Event(att_id, CONFERENCE, time.time(), org, actor=agent, target=target,
                                              call_id=call_id))
    KSR.pv.sets(DLG_ATT, att_id)
    return att_id


def join_conference_if_marked(ctx: Context, org: str, agent: str, target: str) -> bool:
    """An agent's client may mark a call as a conference leg of the call it is on."""
    if KSR.hdr.is_present(CONFERENCE_HEADER) < 0:
        return False
    join_conference(ctx, org, agent, target)
    KSR.hdr.remove(CONFERENCE_HEADER)
    return True


def event(ctx: Context, att_id: str, name: str, org: str, **fields: str) -> None:
    if att_id:
        ctx.state.record_events(Event(att_id, name, time.time(), org, call_id=pv("$ci"), **fields))


RANG_AVP = "$avp(edge_rang)"  # who was last recorded ringing in this transaction


def on_reply(ctx: Context, ringing: str) -> None:
    """tm reply route: a 180/183 means `ringing` (the offered agent, or the callee) is ringing."""
    att_id = pv(DLG_ATT)
    if not att_id or not ringing or int(pv("$rs") or 0) not in (180, 183) or pv(RANG_AVP) == ringing:
        return
    KSR.pv.sets(RANG_AVP, ringing)
    event(ctx, att_id, RING, pv("$dlg_var(org)"), target=ringing)


def on_dialog_event(ctx: Context, evname: str) -> None:
    """Answered (dialog:start), over (dialog:end) or never answered (dialog:failed)."""
    att_id = pv(DLG_ATT)
    if not att_id:
        return
    org = pv("$dlg_var(org)")
    call_id = pv("$dlg(callid)") or pv("$ci")
    now = time.time()
    if evname == "dialog:start":
        who = pv(DLG_ANSWERED_BY) or pv("$dlg(to_uri)")
        ctx.state.record_events(Event(att_id, ANSWER, now, org, target=who, call_id=call_id))
    elif evname in ("dialog:end", "dialog:failed"):
        result = "ended" if evname == "dialog:end" else "not answered"
        ctx.state.record_events(Event(att_id, END, now, org, actor=pv(DLG_ANSWERED_BY), result=result,
                                      call_id=call_id))
