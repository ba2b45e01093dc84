"""Every call belongs to an attendance: created when the call first enters the edge, carried
on the call record (sip/callstate.py), and written to its history as the call moves."""

from __future__ import annotations

import time
from dataclasses import dataclass

import KSR

from kemi_app.policy.attendance import (
    ANSWER,
    CONFERENCE,
    END,
    RING,
    START,
    Attendance,
    Event,
    new_attendance_id,
)
from kemi_app.sip.callstate import CallRecord, Transaction
from kemi_app.sip.context import Context, pv

CONFERENCE_HEADER = "X-Edge-Conference"  # a client marks a second leg as part of a conference


@dataclass(frozen=True)
class NewAttendance:
    origin: str  # queue | direct | outbound
    direction: str  # inbound | outbound | internal
    actor: str
    target: str
    queue: str = ""
    detail: str = ""
    # Chosen before the call was relayed (a queue's first pick locks a member for it): the id,
    # when it was chosen (the start), and what happened since (that offer), written with the start.
    id: str = ""
    at: float = 0.0
    more: tuple[Event, ...] = ()


@dataclass(frozen=True)
class Conference:
    """A leg of the conference the agent is on (a new attendance if it is on none)."""

    agent: str
    target: str


@dataclass(frozen=True)
class Existing:
    id: str  # already linked to this leg (a transfer)


Plan = NewAttendance | Conference | Existing


def open_for(ctx: Context, org: str, plan: Plan) -> str:
    """The attendance of the initial INVITE being relayed; returns its id."""
    if isinstance(plan, Existing):
        return plan.id
    if isinstance(plan, Conference):
        KSR.hdr.remove(CONFERENCE_HEADER)
        return _join_conference(ctx, org, plan)
    return _begin(ctx, org, plan)


def conference_marked() -> bool:
    """An agent's client may mark a call as a conference leg of the call it is on."""
    return KSR.hdr.is_present(CONFERENCE_HEADER) > 0


def _begin(ctx: Context, org: str, plan: NewAttendance) -> str:
    """A new attendance whose first leg is this request's Call-ID."""
    now = plan.at or time.time()
    call_id = pv("$ci")
    att = Attendance(
        id=plan.id or new_attendance_id(now), org=org, origin=plan.origin, direction=plan.direction, created_at=now,
        queue=plan.queue, entered_through_queue=plan.origin == "queue",
        customer_call=call_id if plan.direction == "inbound" else "",
    )
    first = Event(att.id, START, now, org, actor=plan.actor, target=plan.target, call_id=call_id, detail=plan.detail)
    ctx.state.history.create_attendance(att, call_id, first, *plan.more)
    return att.id


def refused(ctx: Context, org: str, origin: str, direction: str, actor: str, target: str, rule: str,
            reason: str) -> None:
    """A call the policy refused before it went anywhere still has an attendance whose
    history says why: start, refused, end, written at once."""
    now = time.time()
    call_id = pv("$ci")
    att = Attendance(id=new_attendance_id(now), org=org, origin=origin, direction=direction, created_at=now)
    ctx.state.history.create_refused(att, call_id, actor, target, rule, reason)


def _join_conference(ctx: Context, org: str, plan: Conference) -> str:
    att_id = ctx.state.history.current_attendance(org, plan.agent)
    if not att_id:
        return _begin(ctx, org, NewAttendance("direct", "internal", actor=plan.agent, target=plan.target))
    call_id = pv("$ci")
    ctx.state.history.link_leg(att_id, call_id, Event(att_id, CONFERENCE, time.time(), org, actor=plan.agent,
                                              target=plan.target, call_id=call_id))
    return att_id


def event(ctx: Context, att_id: str, name: str, org: str, **fields: str) -> None:
    if att_id:
        ctx.state.history.record_events(Event(att_id, name, time.time(), org, call_id=pv("$ci"), **fields))


def on_reply(ctx: Context, record: CallRecord, tx: Transaction) -> None:
    """tm reply route: a 180/183 means the offered agent, or the callee, is ringing."""
    ringing = tx.offered or record.answered_by
    if not record.attendance or not ringing or int(pv("$rs") or 0) not in (180, 183) or tx.rang == ringing:
        return
    tx.rang = ringing
    event(ctx, record.attendance, RING, record.org, target=ringing)


def dialog_events(record: CallRecord, evname: str) -> list[Event]:
    """What the history says on an answer (dialog:start), an end (dialog:end) or a call never
    answered (dialog:failed); the caller writes it with the agents' calls in progress."""
    if not record.attendance:
        return []
    call_id = pv("$dlg(callid)") or pv("$ci")
    now = time.time()
    if evname == "dialog:start":
        who = record.answered_by or pv("$dlg(to_uri)")
        return [Event(record.attendance, ANSWER, now, record.org, target=who, call_id=call_id)]
    if evname in ("dialog:end", "dialog:failed"):
        result = "ended" if evname == "dialog:end" else "not answered"
        return [Event(record.attendance, END, now, record.org, actor=record.answered_by, result=result,
                      call_id=call_id)]
    return []
