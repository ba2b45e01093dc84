"""Queues: a call is offered to one available member at a time, longest idle first, each for
the queue's ring timeout; no answer, busy or decline moves on to the next member. When nobody
is free the caller waits, hearing music, up to the queue's max_wait; then the call overflows
to the org's IVR, or gets 480.

Waiting: a proxy cannot hold a request without a branch, so the call gets one more branch,
to this very node (`sip:park@node`, X-Edge-Park). That looped INVITE, the parking request, is
suspended (tm t_suspend) and joins the queue's waiting calls in Redis. A member becoming free
on any node hands itself to the longest-waiting call (state/queues.AGENT_CHANGED) and pushes
a wake to the node parking it; that node's wake timer resumes the parking request
(t_continue), which answers 480 naming the member; the call's failure route then rings that
member. The caller hanging up CANCELs the parking branch too (it leaves the queue at once),
and max_wait is the parking branch's own timeout.

What the failure route needs rides with the transaction (sip/callstate.Transaction). The
offer lock in Redis makes sure two queue calls racing for one free agent never both ring it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

import KSR

from kemi_app import metrics
from kemi_app.policy.attendance import OFFER, OVERFLOW, WAIT, Event
from kemi_app.policy.keepalive import TO_CALLEE
from kemi_app.policy.queue import Waiter, answered_outcome, try_next_agent, wait_left, when_nobody_left
from kemi_app.policy.registration import Binding, live
from kemi_app.policy.sip_text import quoted_string
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.sip import attendances, media
from kemi_app.sip.callstate import AGENT_PROFILE, CallRecord, QueueCall, Transaction, agent_key
from kemi_app.sip.context import Context, pv, refuse
from kemi_app.sip.flood import from_itself
from kemi_app.sip.forking import fork
from kemi_app.sip.tmroutes import BRANCH_ROUTE, CALL_FAILURE_ROUTE, QUEUE_FAILURE_ROUTE, QUEUE_RESUME_ROUTE, REPLY_ROUTE
from kemi_app.state import waiting_store
from kemi_app.state.agentstate import bindings_from
from kemi_app.state.queues import Picked, Queues

FIRST_RESPONSE_MS = 5000  # a member's phone that does not even say 100 Trying within this is skipped
AUTO_ANSWER_HEADERS = (
    "Call-Info: <sip:edge.invalid>;answer-after=0",
    "Alert-Info: <http://edge.invalid/auto-answer>;info=alert-autoanswer;delay=0",
)
PARK_USER = "park"
PARK_HEADER = "X-Edge-Park"
MEMBER_HEADER = "X-Edge-Member"
WOKEN = ";woken"  # the member was handed over by a change of its state, not found free at once
MEMBER_FREE = (480, "Queue Member Free")  # the parking request's answer when a member is handed over
PARK_MARGIN_S = 30  # the parking request outlives its branch: the call's timer ends it first
WAKE_BLOCK_SECONDS = 0.5  # the wake timer process waits on Redis this long per run
WAKE_BATCH = 100


def queue_call(org: Org, service: Service) -> QueueCall:
    return QueueCall(org.id, service.ext, service.name, service.ring_timeout, org.ivr_uri,
                     service.max_wait, service.service_level)


def _lock_ms(queue: QueueCall) -> int:
    return (queue.ring_seconds + 5) * 1000


@dataclass(frozen=True)
class FirstPick:
    """The first member of a call's queue, picked before the call was relayed."""

    member: Picked | None  # None: nobody was free
    bindings: list[Binding] = field(default_factory=list)  # its live ones
    offer: Event | None = None  # its offer, when it is rung: written with the attendance's start


def pick_first(ctx: Context, queue: QueueCall, att_id: str, route_version: str) -> FirstPick:
    """The first pick of a call whose route is this worker's copy (Lookups.cached_route): that
    copy's version is checked in the same round trip (StaleRoute if it moved). Exact on this
    node's dialog events like every pick (_exact), so its member is never offered twice."""
    lock_ms = _lock_ms(queue)
    picked = _exact(ctx, queue, att_id, [], "",
                    ctx.state.queues.pick(queue.ext, queue.org, att_id, lock_ms, [], route_version=route_version))
    if picked is None:
        return FirstPick(None)
    bindings = live(bindings_from(picked[2]), time.time())
    return FirstPick(picked, bindings, _offer(queue, att_id, picked[0]) if bindings else None)


def _offer(queue: QueueCall, att_id: str, ext: str) -> Event:
    return Event(att_id, OFFER, time.time(), queue.org, target=ext, call_id=pv("$ci"), detail=f"queue {queue.ext}")


def start(ctx: Context, tx: Transaction, queue: QueueCall, att_id: str, first: FirstPick | None = None) -> None:
    """Request route of a call entering a queue (already dialog-tracked)."""
    tx.queue, tx.offer_attendance, tx.tried, tx.queued_at = queue, att_id, [], time.time()
    if not offer_next(ctx, tx, queue, first=first):
        wait_or_overflow(ctx, tx, queue)


def offer_next(ctx: Context, tx: Transaction, queue: QueueCall, preferred: str = "",
               first: FirstPick | None = None) -> bool:
    """Rings the next free member (`preferred` first: handed to this call while it waited;
    `first`: picked already); False when nobody is free."""
    att_id = tx.offer_attendance
    while True:
        recorded = first is not None and first.offer is not None
        if first is None:
            picked = _exact(ctx, queue, att_id, tx.tried, preferred,
                            ctx.state.queues.pick(queue.ext, queue.org, att_id, _lock_ms(queue), tx.tried, preferred))
            bindings = live(bindings_from(picked[2]), time.time()) if picked else []
        else:
            picked, bindings, first = first.member, first.bindings, None
        preferred = ""
        if picked is None:
            return False
        ext, auto_answer, _ = picked
        tx.tried = sorted({*tx.tried, ext})
        if bindings and _ring(ctx, tx, queue, ext, auto_answer, bindings, recorded):
            return True
        ctx.state.queues.release_offer(queue.org, ext, att_id, offer_again=False)


def _exact(ctx: Context, queue: QueueCall, att_id: str, tried: list[str], preferred: str,
           picked: Picked | None) -> Picked | None:
    """Queues.pick's answer `picked`, made exact on this node's dialog events still on their way
    to Redis (the history writer's), waiting for them only when they could change the pick: the
    member picked has a call start on its way (it is busy), or nobody was free and a call end
    may be on its way. Then picked again."""
    events = ctx.state.dialog_events
    if picked is None and not events.pending():
        return None
    if picked is not None:
        if not events.starting(queue.org, picked[0]):
            return picked
        ctx.state.queues.release_offer(queue.org, picked[0], att_id, offer_again=False)
    events.settle()
    return ctx.state.queues.pick(queue.ext, queue.org, att_id, _lock_ms(queue), tried, preferred)


def _ring(ctx: Context, tx: Transaction, queue: QueueCall, ext: str, auto_answer: bool, bindings: list[Binding],
          recorded: bool = False) -> bool:
    """`recorded`: its offer is in the history already (FirstPick.offer)."""
    tx.offered, tx.auto_answer, tx.parked = ext, auto_answer, False
    tx.save()
    if tx.offer_attendance and not recorded:
        ctx.state.history.record_events(_offer(queue, tx.offer_attendance, ext))
    metrics.queue_offer(queue.org, "offered")
    KSR.tm.t_on_failure(QUEUE_FAILURE_ROUTE)
    KSR.tm.t_on_branch(BRANCH_ROUTE)
    KSR.tm.t_on_reply(REPLY_ROUTE)
    KSR.tm.t_set_fr(queue.ring_seconds * 1000, FIRST_RESPONSE_MS)
    if tx.waiting_since:  # a call that waited outlives the default INVITE lifetime
        KSR.tm.t_set_max_lifetime((queue.ring_seconds + PARK_MARGIN_S) * 1000, 0)
    return fork(ctx, bindings)


def wait_or_overflow(ctx: Context, tx: Transaction, queue: QueueCall) -> None:
    """Nobody free: wait (music, parked) while max_wait allows, else the overflow."""
    left = wait_left(queue.max_wait, tx.waiting_since, time.time())
    if left <= 0 or not _park(ctx, tx, queue, left):
        overflow(ctx, tx, queue)


def _park(ctx: Context, tx: Transaction, queue: QueueCall, left: float) -> bool:
    if not tx.waiting_since:
        sdp = media.waiting_music(ctx)
        if not sdp:
            return False  # no music possible (WebRTC caller, no SDP, rtpengine down): no waiting
        if KSR.tmx.t_is_request_route() > 0:
            KSR.tm.t_newtran()
        KSR.textops.set_reply_body(sdp, "application/sdp")
        KSR.tm.t_reply(183, "Session Progress")
        tx.waiting_since, tx.music = time.time(), pv("$ft")
        metrics.queue_call(queue.org, "waited")
        attendances.event(ctx, tx.offer_attendance, WAIT, queue.org, target=queue.ext, detail=f"queue {queue.ext}")
    tx.offered, tx.parked = "", True
    tx.save()
    KSR.seturi(f"sip:{PARK_USER}@{ctx.settings.sip_addr}:{ctx.settings.sip_port}")
    KSR.pv.sets("$du", "")
    KSR.tm.t_on_failure(QUEUE_FAILURE_ROUTE)
    KSR.tm.t_on_branch(BRANCH_ROUTE)
    ms = int(left * 1000)
    KSR.tm.t_set_fr(ms, ms)
    KSR.tm.t_set_max_lifetime(ms + (queue.ring_seconds + PARK_MARGIN_S) * 1000, 0)
    return KSR.tm.t_relay() > 0


def _park_header(tx: Transaction, queue: QueueCall) -> str:
    data = {"org": queue.org, "queue": queue.ext, "att": tx.offer_attendance, "lock": _lock_ms(queue),
            "since": tx.waiting_since, "wait": queue.max_wait, "tried": tx.tried}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def is_parking(ctx: Context) -> bool:
    """A parking request: this node's own INVITE to park@ itself."""
    return pv("$rU") == PARK_USER and from_itself(ctx) and bool(pv(f"$hdr({PARK_HEADER})"))


def park(ctx: Context) -> None:
    """Request route of a parking request: suspended until a member is handed to its call."""
    try:
        data = json.loads(base64.urlsafe_b64decode(pv(f"$hdr({PARK_HEADER})")))
        org, queue, att, lock = str(data["org"]), str(data["queue"]), str(data["att"]), int(data["lock"])
        since, wait, tried = float(data["since"]), int(data["wait"]), [str(e) for e in data["tried"]]
    except (ValueError, KeyError, TypeError):
        KSR.sl.sl_send_reply(400, "Bad Park Header")
        return
    KSR.tm.t_newtran()  # every answer below is the transaction's
    # Members who just failed this call are not handed straight back (they would ring again
    # at once); a later change of their state hands them over like any member.
    ctx.state.dialog_events.settle()  # a call that waits anyway: members' calls on their way count
    picked = ctx.state.queues.pick(queue, org, att, lock, tried)
    if picked is not None:
        _member_free(picked[0])
        return
    if KSR.tmx.t_suspend() <= 0:
        KSR.tm.t_reply(500, "Cannot Park")
        return
    KSR.tm.t_set_max_lifetime((wait + PARK_MARGIN_S) * 1000, 0)
    waiter = Waiter(ctx.settings.node_uri, org, queue, int(pv("$T(id_index)")), int(pv("$T(id_label)")), att, lock,
                    since + wait + PARK_MARGIN_S)
    picked = ctx.state.queues.pick(queue, org, att, lock, tried, waiter=waiter, waiter_arrived=since)
    if picked is not None:  # a member came free meanwhile: wake ourselves
        ctx.state.queues.wake(ctx.settings.node_uri, waiter, picked[0])


def _member_free(ext: str, woken: bool = False) -> None:
    KSR.hdr.append_to_reply(f"{MEMBER_HEADER}: {ext}{WOKEN if woken else ''}\r\n")
    KSR.tm.t_reply(*MEMBER_FREE)


_handing: list[str] = []  # the member being handed over while the resume route runs (one process)
_wake_store: list[Queues] = []  # the wake timer process's own client


def drain_wakes(ctx: Context) -> None:
    """Wake timer (its own process): resume the parking requests of this node that a member
    was handed to; a call gone meanwhile gives its member back."""
    if not _wake_store:
        _wake_store.append(waiting_store(ctx.settings.effective_redis_url, WAKE_BLOCK_SECONDS))
    try:
        wakes = _wake_store[0].next_wakes(ctx.settings.node_uri, WAKE_BLOCK_SECONDS, WAKE_BATCH)
    except Exception as e:  # Redis down: say so once a second, not at every timer tick
        KSR.err(f"queue wakes not read: {e!r}\n")
        time.sleep(1.0)  # the timer process's own: no SIP waits on it
        return
    for waiter, ext in wakes:
        _handing[:] = [ext]
        KSR.tmx.t_continue(waiter.tindex, waiter.tlabel, QUEUE_RESUME_ROUTE)
        if _handing:  # not resumed: the call ended while the member was on its way
            _handing.clear()
            ctx.state.dialog_events.settle()  # offered again only if no call of its started
            ctx.state.queues.release_offer(waiter.org, ext, waiter.attendance)


def on_resume() -> None:
    """Resume route of a parking request: answer its call's branch with the member."""
    if _handing:
        _member_free(_handing.pop(), woken=True)


def overflow(ctx: Context, tx: Transaction, queue: QueueCall) -> None:
    """Nobody (left) to offer the call to: the org's IVR, or 480."""
    tx.offered, tx.parked = "", False
    tx.save()
    decision = when_nobody_left(queue.overflow_uri)
    reason = "ivr" if decision.target_uri else "no-agent"
    metrics.queue_overflow(queue.org, reason)
    attendances.event(ctx, tx.offer_attendance, OVERFLOW, queue.org, target=decision.target_uri or "none",
                      result=reason, detail=f"queue {queue.ext}")
    if decision.target_uri:
        media.stop_waiting_music(tx.music)
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
    """Failure route: the member did not take the call, or its wait ended. Next member, wait,
    overflow, or the final status to count (the caller hung up, or an answer that must not be
    retried)."""
    tx = Transaction.load()
    queue, att_id, ext = tx.queue, tx.offer_attendance, tx.offered
    status = int(pv("$T_reply_code") or 0)
    if queue is None:
        return status
    cancelled = KSR.tm.t_is_canceled() > 0
    if tx.parked:
        return _wait_ended(ctx, tx, queue, status, cancelled)
    if ext:
        ctx.state.queues.release_offer(queue.org, ext, att_id, offer_again=False)
        result = "cancelled" if cancelled else "no-answer" if status == 408 else f"refused {status}"
        metrics.queue_offer(queue.org, "no-answer" if status == 408 else "cancelled" if cancelled else "refused")
        attendances.event(ctx, att_id, OFFER, queue.org, target=ext, result=result)
    if cancelled:
        metrics.queue_call(queue.org, "abandoned")
    if not try_next_agent(status, cancelled):
        return status
    if not offer_next(ctx, tx, queue):
        wait_or_overflow(ctx, tx, queue)
    return None


def _wait_ended(ctx: Context, tx: Transaction, queue: QueueCall, status: int, cancelled: bool) -> int | None:
    """The parking branch answered: a member was handed over, the caller hung up, or max_wait."""
    member = pv(f"$T_rpl($hdr({MEMBER_HEADER}))") if status == MEMBER_FREE[0] else ""
    if member.endswith(WOKEN):  # its state changed since it failed this call: it may ring again
        member, tx.tried = member.removesuffix(WOKEN), []
    if not member:
        ctx.state.queues.leave(queue.org, queue.ext, tx.offer_attendance)
    if cancelled:
        if member:  # handed over just as the caller hung up: the member is free for others
            ctx.state.dialog_events.settle()
            ctx.state.queues.release_offer(queue.org, member, tx.offer_attendance)
        _wait_over(ctx, tx, queue, "abandoned")
        return status
    tx.parked = False
    if member and offer_next(ctx, tx, queue, preferred=member):
        return None
    if not member:
        _wait_over(ctx, tx, queue, "timeout")
        overflow(ctx, tx, queue)
        return None
    wait_or_overflow(ctx, tx, queue)
    return None


def _wait_over(ctx: Context, tx: Transaction, queue: QueueCall, result: str) -> None:
    metrics.queue_call(queue.org, result)
    attendances.event(ctx, tx.offer_attendance, WAIT, queue.org, target=queue.ext, result=result,
                      detail=f"queue {queue.ext}")


def on_branch(tx: Transaction) -> bool:
    """Branch route: tell the member's phone which attendance and queue this is, and to
    answer by itself when the agent asked for auto-answer. A parking branch gets its header
    instead; True: it needs no media."""
    if tx.queue is None or not tx.offer_attendance:
        return False
    if tx.parked:
        KSR.hdr.append(f"{PARK_HEADER}: {_park_header(tx, tx.queue)}\r\n")
        return True
    if not tx.offered:
        return False
    KSR.hdr.append(f"X-Edge-Attendance: {tx.offer_attendance}\r\n")
    KSR.hdr.append(f"X-Edge-Queue: {tx.queue.ext};name={quoted_string(tx.queue.name)}\r\n")
    if tx.auto_answer:
        for header in AUTO_ANSWER_HEADERS:
            KSR.hdr.append(header + "\r\n")
    return False


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
        KSR.dialog.set_dlg_profile(AGENT_PROFILE, agent_key(queue.org, ext))  # its call start ends the lock
        if KSR.is_WSX() <= 0:  # a phone the dialog module can reach with keepalives (policy/keepalive)
            KSR.dialog.dlg_set_property(TO_CALLEE)
        if tx.queued_at:  # once: a retransmitted 2xx comes through here again
            metrics.queue_call(queue.org, answered_outcome(time.time() - tx.queued_at, queue.service_level))
            tx.queued_at = 0.0
        if tx.music:
            media.stop_waiting_music(tx.music)
            tx.music = ""
