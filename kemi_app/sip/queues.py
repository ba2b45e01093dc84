"""Queues: a call is offered to one available member at a time, longest idle first, each for
the queue's ring timeout; no answer, busy or decline moves on to the next member; when nobody
is left the call overflows to the org's IVR, or gets 480.

What the failure route needs rides with the transaction (sip/callstate.Transaction). An
offer lock in Redis (reserve_offer) makes sure two queue calls racing for one free agent
never both ring it.
"""

from __future__ import annotations

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import OFFER, OVERFLOW
from kemi_app.policy.keepalive import TO_CALLEE
from kemi_app.policy.queue import offer_order, try_next_agent, when_nobody_left
from kemi_app.policy.sip_text import quoted_string
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.sip import attendances, media
from kemi_app.sip.callstate import AGENT_PROFILE, CallRecord, QueueCall, Transaction, agent_key
from kemi_app.sip.context import Context, pv, refuse
from kemi_app.sip.forking import fork
from kemi_app.sip.tmroutes import BRANCH_ROUTE, CALL_FAILURE_ROUTE, QUEUE_FAILURE_ROUTE, REPLY_ROUTE

FIRST_RESPONSE_MS = 5000  # a member's phone that does not even say 100 Trying within this is skipped
AUTO_ANSWER_HEADERS = (
    "Call-Info: <sip:edge.invalid>;answer-after=0",
    "Alert-Info: <http://edge.invalid/auto-answer>;info=alert-autoanswer;delay=0",
)


def queue_call(org: Org, service: Service) -> QueueCall:
    return QueueCall(org.id, service.ext, service.name, service.ring_timeout, org.ivr_uri, list(service.members))


def start(ctx: Context, tx: Transaction, queue: QueueCall, att_id: str) -> None:
    """Request route of a call entering a queue (already dialog-tracked)."""
    tx.queue, tx.offer_attendance, tx.tried = queue, att_id, []
    if not offer_next(ctx, tx, queue):
        overflow(ctx, tx, queue)


def offer_next(ctx: Context, tx: Transaction, queue: QueueCall) -> bool:
    """Rings the next free member; False when nobody is left."""
    att_id = tx.offer_attendance
    members, auto_answer = ctx.state.queues.queue_members(queue.org, queue.members)
    lock_ms = (queue.ring_seconds + 5) * 1000
    for ext in offer_order(members, frozenset(tx.tried)):
        tx.tried = sorted({*tx.tried, ext})
        if not ctx.state.queues.reserve_offer(queue.org, ext, att_id, lock_ms):
            metrics.queue_offer(queue.org, "lost-race")
            continue
        bindings = ctx.state.registrations.bindings(queue.org, ext)
        if not bindings:
            ctx.state.queues.release_offer(queue.org, ext, att_id)
            continue
        tx.offered, tx.auto_answer = ext, bool(auto_answer.get(ext))
        tx.save()
        attendances.event(ctx, att_id, OFFER, queue.org, target=ext, detail=f"queue {queue.ext}")
        metrics.queue_offer(queue.org, "offered")
        KSR.tm.t_on_failure(QUEUE_FAILURE_ROUTE)
        KSR.tm.t_on_branch(BRANCH_ROUTE)
        KSR.tm.t_on_reply(REPLY_ROUTE)
        KSR.tm.t_set_fr(queue.ring_seconds * 1000, FIRST_RESPONSE_MS)
        if fork(ctx, bindings):
            return True
        ctx.state.queues.release_offer(queue.org, ext, att_id)
    return False


def overflow(ctx: Context, tx: Transaction, queue: QueueCall) -> None:
    """Nobody (left) to offer the call to: the org's IVR, or 480."""
    tx.offered = ""
    tx.save()
    decision = when_nobody_left(queue.overflow_uri)
    reason = "ivr" if decision.target_uri else "no-agent"
    metrics.queue_overflow(queue.org, reason)
    attendances.event(ctx, tx.offer_attendance, OVERFLOW, queue.org, target=decision.target_uri or "none",
                      result=reason, detail=f"queue {queue.ext}")
    if decision.target_uri:
        KSR.dialog.dlg_set_property(TO_CALLEE)  # the IVR: never a WebSocket
        KSR.seturi(decision.target_uri)
        KSR.pv.sets("$du", "")
        KSR.tm.t_on_branch(BRANCH_ROUTE)
        KSR.tm.t_on_reply(REPLY_ROUTE)
        KSR.tm.t_on_failure(CALL_FAILURE_ROUTE)
        if media.relay(ctx):
            return
    if KSR.tmx.t_is_failure_route() > 0:
        KSR.tm.t_reply(decision.status or 500, decision.reason or "Overflow Failed")
    else:
        refuse(queue.org, "queue", decision.status or 500, decision.reason or "Overflow Failed")


def on_failure(ctx: Context) -> int | None:
    """Failure route: the member did not take the call. Next member, overflow, or the final
    status to count (the caller hung up, or an answer that must not be retried)."""
    tx = Transaction.load()
    queue, att_id, ext = tx.queue, tx.offer_attendance, tx.offered
    status = int(pv("$T_reply_code") or 0)
    if queue is None:
        return status
    cancelled = KSR.tm.t_is_canceled() > 0
    if ext:
        ctx.state.queues.release_offer(queue.org, ext, att_id)
        result = "cancelled" if cancelled else "no-answer" if status == 408 else f"refused {status}"
        metrics.queue_offer(queue.org, "no-answer" if status == 408 else "cancelled" if cancelled else "refused")
        attendances.event(ctx, att_id, OFFER, queue.org, target=ext, result=result)
    if not try_next_agent(status, cancelled):
        return status
    if offer_next(ctx, tx, queue):
        return None
    overflow(ctx, tx, queue)
    return None


def on_branch(tx: Transaction) -> None:
    """Branch route: tell the member's phone which attendance and queue this is, and to
    answer by itself when the agent asked for auto-answer."""
    if tx.queue is None or not tx.offer_attendance or not tx.offered:
        return
    KSR.hdr.append(f"X-Edge-Attendance: {tx.offer_attendance}\r\n")
    KSR.hdr.append(f"X-Edge-Queue: {tx.queue.ext};name={quoted_string(tx.queue.name)}\r\n")
    if tx.auto_answer:
        for header in AUTO_ANSWER_HEADERS:
            KSR.hdr.append(header + "\r\n")


def on_reply(ctx: Context, record: CallRecord, tx: Transaction) -> None:
    """tm reply route: the member who answers is in-call with this dialog."""
    ext, queue = tx.offered, tx.queue
    if not ext or queue is None or not tx.offer_attendance:
        return
    if 200 <= int(pv("$rs") or 0) < 300:
        # The answering member is in-call with this dialog and can be found if it vanishes.
        record.answered_by = ext
        if ext not in record.agents:
            record.agents.append(ext)
        KSR.dialog.set_dlg_profile(AGENT_PROFILE, agent_key(queue.org, ext))
        if KSR.is_WSX() <= 0:  # a phone the dialog module can reach with keepalives (policy/keepalive)
            KSR.dialog.dlg_set_property(TO_CALLEE)
        ctx.state.queues.release_offer(queue.org, ext, tx.offer_attendance)
