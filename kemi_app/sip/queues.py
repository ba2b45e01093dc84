"""Queues: a call is offered to one available member at a time, longest idle first, each for
the queue's ring timeout; no answer, busy or decline moves on to the next member; when nobody
is left the call overflows to the org's IVR, or gets 480.

What the failure route needs rides with the transaction in AVPs. An offer lock in Redis
(reserve_offer) makes sure two queue calls racing for one free agent never both ring it.
"""

from __future__ import annotations

from dataclasses import dataclass

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import OFFER, OVERFLOW
from kemi_app.policy.org import Org
from kemi_app.policy.queue import offer_order, try_next_agent, when_nobody_left
from kemi_app.policy.service import Service
from kemi_app.sip import attendances, media
from kemi_app.sip.context import Context, pv
from kemi_app.sip.relay import agent_key, fork, refuse

QUEUE_AVP = "$avp(edge_queue)"  # org|queue ext|queue name|ring seconds|overflow uri|members
ATT_AVP = "$avp(edge_att)"  # the attendance being offered
OFFER_AVP = "$avp(edge_offer)"  # the member ringing now
TRIED_AVP = "$avp(edge_tried)"  # members already offered, space separated
AUTO_AVP = "$avp(edge_auto)"  # "1" when the member ringing now wants auto-answer
FAILURE_ROUTE = "ksr_queue_failure"
FIRST_RESPONSE_MS = 5000  # a member's phone that does not even say 100 Trying within this is skipped
AUTO_ANSWER_HEADERS = (
    "Call-Info: <sip:edge.invalid>;answer-after=0",
    "Alert-Info: <http://edge.invalid/auto-answer>;info=alert-autoanswer;delay=0",
)


@dataclass(frozen=True)
class QueueCall:
    org: str
    ext: str
    name: str
    ring_seconds: int
    overflow_uri: str
    members: list[str]

    def encode(self) -> str:
        return "|".join((self.org, self.ext, self.name, str(self.ring_seconds), self.overflow_uri,
                         ",".join(self.members)))

    @classmethod
    def of(cls, org: Org, service: Service) -> QueueCall:
        return cls(org.id, service.ext, service.name, service.ring_timeout, org.ivr_uri, list(service.members))

    @classmethod
    def decode(cls, raw: str) -> QueueCall:
        org, ext, name, ring, overflow, members = raw.split("|", 5)
        return cls(org, ext, name, int(ring), overflow, [m for m in members.split(",") if m])


def start(ctx: Context, queue: QueueCall, att_id: str) -> None:
    """Request route of a call entering a queue (already dialog-tracked)."""
    KSR.pv.sets(QUEUE_AVP, queue.encode())
    KSR.pv.sets(ATT_AVP, att_id)
    KSR.pv.sets(TRIED_AVP, "")
    if not offer_next(ctx, queue, att_id):
        overflow(ctx, queue, att_id)


def offer_next(ctx: Context, queue: QueueCall, att_id: str) -> bool:
    """Rings the next free member; False when nobody is left."""
    tried = set(pv(TRIED_AVP).split())
    members, auto_answer = ctx.state.queue_members(queue.org, queue.members)
    lock_ms = (queue.ring_seconds + 5) * 1000
    for ext in offer_order(members, frozenset(tried)):
        tried.add(ext)
        KSR.pv.sets(TRIED_AVP, " ".join(sorted(tried)))
        if not ctx.state.reserve_offer(queue.org, ext, att_id, lock_ms):
            metrics.queue_offer(queue.org, "lost-race")
            continue
        bindings = ctx.state.bindings(queue.org, ext)
        if not bindings:
            ctx.state.release_offer(queue.org, ext, att_id)
            continue
        KSR.pv.sets(OFFER_AVP, ext)
        KSR.pv.sets(AUTO_AVP, "1" if auto_answer.get(ext) else "0")
        attendances.event(ctx, att_id, OFFER, queue.org, target=ext, detail=f"queue {queue.ext}")
        metrics.queue_offer(queue.org, "offered")
        KSR.tm.t_on_failure(FAILURE_ROUTE)
        KSR.tm.t_on_branch(media.BRANCH_ROUTE)
        KSR.tm.t_on_reply(media.REPLY_ROUTE)
        KSR.tm.t_set_fr(queue.ring_seconds * 1000, FIRST_RESPONSE_MS)
        if fork(ctx, bindings):
            return True
        ctx.state.release_offer(queue.org, ext, att_id)
    return False


def overflow(ctx: Context, queue: QueueCall, att_id: str) -> None:
    """Nobody (left) to offer the call to: the org's IVR, or 480."""
    KSR.pv.sets(OFFER_AVP, "")
    decision = when_nobody_left(queue.overflow_uri)
    reason = "ivr" if decision.target_uri else "no-agent"
    metrics.queue_overflow(queue.org, reason)
    attendances.event(ctx, att_id, OVERFLOW, queue.org, target=decision.target_uri or "none",
                      result=reason, detail=f"queue {queue.ext}")
    if decision.target_uri:
        KSR.seturi(decision.target_uri)
        KSR.pv.sets("$du", "")
        KSR.tm.t_on_branch(media.BRANCH_ROUTE)
        KSR.tm.t_on_reply(media.REPLY_ROUTE)
        KSR.tm.t_on_failure("ksr_call_failure")
        if media.relay(ctx):
            return
    if KSR.tmx.t_is_failure_route() > 0:
        KSR.tm.t_reply(decision.status or 500, decision.reason or "Overflow Failed")
    else:
        refuse(queue.org, "queue", decision.status or 500, decision.reason or "Overflow Failed")


def on_failure(ctx: Context) -> int | None:
    """Failure route: the member did not take the call. Next member, overflow, or the final
    status to count (the caller hung up, or an answer that must not be retried)."""
    queue, att_id, ext = QueueCall.decode(pv(QUEUE_AVP)), pv(ATT_AVP), pv(OFFER_AVP)
    status = int(pv("$T_reply_code") or 0)
    cancelled = KSR.tm.t_is_canceled() > 0
    if ext:
        ctx.state.release_offer(queue.org, ext, att_id)
        result = "cancelled" if cancelled else "no-answer" if status == 408 else f"refused {status}"
        metrics.queue_offer(queue.org, "no-answer" if status == 408 else "cancelled" if cancelled else "refused")
        attendances.event(ctx, att_id, OFFER, queue.org, target=ext, result=result)
    if not try_next_agent(status, cancelled):
        return status
    if offer_next(ctx, queue, att_id):
        return None
    overflow(ctx, queue, att_id)
    return None


def on_branch() -> None:
    """Branch route: tell the member's phone which attendance and queue this is, and to
    answer by itself when the agent asked for auto-answer."""
    att_id = pv(ATT_AVP)
    ext = pv(OFFER_AVP)
    if not att_id or not ext:
        return
    queue = QueueCall.decode(pv(QUEUE_AVP))
    KSR.hdr.append(f"X-Edge-Attendance: {att_id}\r\n")
    KSR.hdr.append(f"X-Edge-Queue: {queue.ext};name=\"{queue.name}\"\r\n")
    if pv(AUTO_AVP) == "1":
        for header in AUTO_ANSWER_HEADERS:
            KSR.hdr.append(header + "\r\n")


def offered() -> str:
    """The queue member ringing in this transaction ('' outside queue offers)."""
    return pv(OFFER_AVP)


def on_reply(ctx: Context) -> None:
    """tm reply route: the member who answers is in-call with this dialog."""
    ext = pv(OFFER_AVP)
    att_id = pv(ATT_AVP)
    if not ext or not att_id:
        return
    status = int(pv("$rs") or 0)
    queue = QueueCall.decode(pv(QUEUE_AVP))
    if 200 <= status < 300:
        # The answering member is in-call with this dialog and can be found if it vanishes.
        KSR.pv.sets(attendances.DLG_ANSWERED_BY, ext)
        KSR.pv.sets("$dlg_var(agents)", ",".join(a for a in (pv("$dlg_var(agents)"), ext) if a))
        KSR.dialog.set_dlg_profile("agent", agent_key(queue.org, ext))
        ctx.state.release_offer(queue.org, ext, att_id)
