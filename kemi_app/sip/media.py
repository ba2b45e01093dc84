"""rtpengine for every call with SDP: offer per branch, answer per branch, delete when over.

Initial INVITE with SDP: the offer is made in the branch route, one rtpengine session per tm branch
(via-branch=extra with the branch index), so forked and serial attempts stay independent;
a branch that fails is deleted alone. Initial INVITE without SDP (late offer): offer on the
callee's 2xx, answer on the caller's ACK. re-INVITE/UPDATE: offer on the request, answer on its
2xx, music on hold started or stopped once the hold is answered. The whole call is deleted
when the dialog ends or fails (dialog events), whatever ended it.

What the branch and reply routes of one transaction need lives in its Transaction record;
what later requests need, in the CallRecord (sip/callstate.py).

With a pool of rtpengines (EDGE_RTPENGINE_NG lists several) the initial INVITE picks the
call's instance (policy/media_pool.py: by Call-ID, skipping those the module has disabled),
and every later command of the call (re-offer, answer, music, delete) selects that
instance's set again: a call's media never moves. Each worker's module keeps the last set
selected, so every command here selects its set first.
"""

from __future__ import annotations

from functools import lru_cache

import KSR

from kemi_app.policy.media import (
    HoldChange,
    LegKind,
    MediaSettings,
    answer_flags,
    black_hole_answer,
    engaged,
    hold_change,
    leg_kind,
    offer_flags,
)
from kemi_app.policy.media_pool import choose, preference
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import rpc
from kemi_app.sip.callstate import EXTRA_ID, MEDIA_PROFILE, NO_MEDIA, CallRecord, Transaction
from kemi_app.sip.context import Context, log_ctx, pv
from kemi_app.sip.tmroutes import BRANCH_ROUTE, REPLY_ROUTE

PER_BRANCH = " via-branch=extra"
# A delete naming no tag ends every session of the Call-ID (each branch's, the waiting music's,
# supervisors'), as the ng delete by Call-ID does: the module would name the BYE's From tag.
WHOLE_CALL = "from-tag="
FIRST_BRANCH = "0"  # tm's index of the branch the request's own R-URI becomes ($T_branch_idx)
NG_TIMEOUT = 0.4  # our own ng delete: like the module's commands, a stalled rtpengine must not hold a worker


def has_sdp(body: str | None = None) -> bool:
    """`body`: the message body when the caller has read it already (never read twice)."""
    return "application/sdp" in pv("$cT").lower() and "m=" in (pv("$rb") if body is None else body)


_KINDS = {kind.value: kind for kind in LegKind}


def _kind(value: str) -> LegKind | None:
    """A stored leg kind ('' when none: no raised ValueError per message)."""
    return _KINDS.get(value)


def prepare_initial(ctx: Context, record: CallRecord, tx: Transaction, callee_codecs: tuple[str, ...],
                    callee_webrtc: bool = False) -> None:
    """Before relaying an initial INVITE: arm the branch and reply routes that do the media.

    `callee_codecs` is the callee leg's allowed codecs (empty for agents); `callee_webrtc`:
    every device of the called agent is a browser."""
    body = pv("$rb")
    caller = leg_kind(pv("$pr"), body)
    # Refused before anything is relayed when rtpengine is surely needed and known down.
    needed = ctx.media.anchor_rtp or LegKind.WEBRTC in (caller, LegKind.WEBRTC if callee_webrtc else caller)
    if needed and not ctx.rtpengine.usable():
        raise ctx.rtpengine.down()
    if not has_sdp(body):
        _prepare_late_offer(ctx, record, tx, callee_codecs)
        return
    tx.offerer, tx.initial, tx.callee_codecs = caller.value, True, list(callee_codecs)
    record.caller_leg, record.callee_codecs = caller.value, list(callee_codecs)
    tx.media_set = record.media_set = _pick(ctx)
    if len(ctx.settings.media_pool) > 1:  # found by sip/mediapool.py should its rtpengine die
        KSR.dialog.set_dlg_profile(MEDIA_PROFILE, str(record.media_set))
    KSR.tm.t_on_branch(BRANCH_ROUTE)
    KSR.tm.t_on_reply(REPLY_ROUTE)


def _pick(ctx: Context, call_id: str | None = None) -> int:
    """The call's rtpengine (`call_id`: this message's when not given): the best one for its
    Call-ID among those up; all down: the best one anyway (its failure then feeds the breaker
    and the caller gets the 503)."""
    pool = ctx.settings.media_pool
    if len(pool) == 1:
        return 0
    call_id = pv("$ci") if call_id is None else call_id
    try:
        down = disabled_sets()
    except rpc.RpcError:
        down = set()
    chosen = choose(call_id, pool, down)
    return preference(call_id, pool)[0] if chosen is None else chosen


def ng_for(ctx: Context, call_id: str, media_set: int = NO_MEDIA) -> str:
    """The ng address of the rtpengine holding the call's media, for commands sent straight
    from Python (recording, supervision): its recorded set, else the one its Call-ID picks."""
    pool = ctx.settings.media_pool
    return pool[media_set if 0 <= media_set < len(pool) else _pick(ctx, call_id)].ng


def disabled_sets() -> set[int]:
    """Pool members (set numbers) the rtpengine module has disabled, in shared memory: one that
    timed out, or that the media tick (sip/mediapool.py) took out after a missed ping."""
    nodes = rpc.call("rtpengine.show", "all")
    listed = nodes if isinstance(nodes, list) else [nodes]
    return {int(n.get("set", 0)) for n in listed if isinstance(n, dict) and str(n.get("disabled", "0")) != "0"}


def select_set(ctx: Context, media_set: int) -> None:
    """Before any rtpengine module command about a call (recording, subscriptions too): the
    set of the instance holding its media (CallRecord.media_set). A pool of one has one set,
    the module's default: nothing to select."""
    if len(ctx.settings.media_pool) > 1:
        KSR.rtpengine.set_rtpengine_set(max(media_set, 0))


def _prepare_late_offer(
    ctx: Context, record: CallRecord, tx: Transaction, callee_codecs: tuple[str, ...]
) -> None:
    """An INVITE without SDP (late offer): the callee offers in its 2xx and the caller answers
    in the ACK, so rtpengine takes the offer on the reply (late_offer_reply) and the answer
    on the ACK (answer_in_ack). The callee's kind is known only from its reply."""
    record.caller_leg, record.callee_codecs = leg_kind(pv("$pr")).value, list(callee_codecs)
    tx.late_offer = True
    tx.media_set = record.media_set = _pick(ctx)
    KSR.tm.t_on_reply(REPLY_ROUTE)


def _late_offer_reply(ctx: Context, record: CallRecord) -> None:
    """The callee's 2xx carries the offer: shaped for the caller, who answers in its ACK."""
    caller = _kind(record.caller_leg)
    status = int(pv("$rs") or 0)
    if caller is None or not 200 <= status < 300 or not has_sdp():
        return
    callee = leg_kind(pv("$pr"), pv("$rb"))
    settings = ctx.media
    if not engaged(callee, caller, settings):
        return
    select_set(ctx, record.media_set)
    if not ctx.rtpengine.usable() or not _done(ctx, KSR.rtpengine.rtpengine_offer(
            offer_flags(callee, caller, settings))):
        KSR.err(f"media: rtpengine offer in a late-offer answer failed {log_ctx()}\n")
        return
    record.anchored, record.callee_leg, record.answer_in_ack = True, callee.value, True


def answer_in_ack(ctx: Context, record: CallRecord) -> None:
    """The ACK of a late-offer call carries the caller's answer: shaped for the callee."""
    if not record.answer_in_ack:  # every call but a late offer's: nothing read
        return
    callee = _kind(record.callee_leg)
    if callee is None or not has_sdp():
        return
    # Kept for the ACKs that answer a retransmitted 2xx: each got rtpengine's offer again.
    select_set(ctx, record.media_set)
    if not _done(ctx, KSR.rtpengine.rtpengine_answer(answer_flags(callee))):
        KSR.err(f"media: rtpengine answer in a late-offer ACK failed {log_ctx()}\n")


def _branch_kind() -> LegKind:
    target = (pv("$du") or pv("$ru")).lower()
    for transport in ("wss", "ws"):
        if f"transport={transport}" in target:
            return LegKind.WEBRTC
    return LegKind.RTP


def on_branch(ctx: Context, tx: Transaction) -> None:
    """Branch route of an initial INVITE: this branch's own offer, shaped for its callee."""
    if not _branch_offer(ctx, tx, pv("$T_branch_idx")):
        KSR.err(f"media: rtpengine offer failed, branch dropped {log_ctx()}\n")
        ctx.media_refused = True
        KSR.set_drop()


def offer_one_branch(ctx: Context, tx: Transaction) -> None:
    """Request route of an initial INVITE relayed as one branch that needs nothing else of the
    branch route (sip/forking.py): that branch's offer, made here for tm's first branch (index
    0), so no branch route runs. A failed offer answers as a dropped branch does: 503."""
    KSR.tm.t_on_branch("")  # armed by prepare_initial: the offer is made already
    if not _branch_offer(ctx, tx, FIRST_BRANCH):
        raise ctx.rtpengine.down("no branch could get media")


def _branch_offer(ctx: Context, tx: Transaction, branch: str) -> bool:
    """The offer of an initial INVITE's branch `branch`, shaped for the callee its R-URI or
    destination names (set before). False when it failed."""
    caller = _kind(tx.offerer)
    if caller is None or not tx.initial:
        return True
    callee = _branch_kind()
    settings = ctx.media
    if not engaged(caller, callee, settings):
        return True
    KSR.pv.sets(EXTRA_ID, branch)
    flags = _branch_offer_flags(caller, callee, settings, tuple(tx.callee_codecs), ctx.media_label)
    select_set(ctx, tx.media_set)
    return ctx.rtpengine.usable() and _done(ctx, KSR.rtpengine.rtpengine_offer(flags))


@lru_cache(maxsize=64)
def _branch_offer_flags(caller: LegKind, callee: LegKind, settings: MediaSettings, callee_codecs: tuple[str, ...],
                        label: str) -> str:
    """A branch's offer flags: a few combinations per node, built once each."""
    return f"{offer_flags(caller, callee, settings, callee_codecs)}{PER_BRANCH} label={label}"


def _done(ctx: Context, rc: int) -> bool:
    """Reports a module command's outcome to the rtpengine breaker. A failure counts only when
    the module marked rtpengine unreachable (it timed out), not when rtpengine refused this
    call's SDP: a caller's bad SDP must not make the edge refuse everyone."""
    if rc > 0:
        ctx.rtpengine.succeeded()
        return True
    if _unreachable(ctx):
        ctx.rtpengine.failed()
    return False


def _unreachable(ctx: Context) -> bool:
    """Every rtpengine of the pool is disabled: the edge has no media relay at all."""
    try:
        return len(disabled_sets()) >= len(ctx.settings.media_pool)
    except rpc.RpcError:
        return True


def relay(ctx: Context) -> bool:
    """t_relay, with the 503 when it relayed nothing because rtpengine is down (every branch
    dropped by on_branch): that answer says when to come back, sl_reply_error's does not."""
    ctx.media_refused = False
    if KSR.tm.t_relay() > 0:
        return True
    if ctx.media_refused:
        raise ctx.rtpengine.down("no branch could get media")
    return False


def offer_in_dialog(ctx: Context, record: CallRecord) -> None:
    """re-INVITE/UPDATE with SDP inside an anchored call: re-offer, and track hold for music."""
    caller, callee = _kind(record.caller_leg), _kind(record.callee_leg)
    if not record.anchored or caller is None or callee is None or not has_sdp():
        return
    if KSR.rr.is_direction("downstream") > 0:
        sender, receiver, codecs = caller, callee, record.callee_codecs
    else:
        sender, receiver, codecs = callee, caller, record.caller_codecs
    if not ctx.rtpengine.usable():
        KSR.notice(f"media: rtpengine down, relayed without re-anchoring {log_ctx()}\n")
        return
    select_set(ctx, record.media_set)
    if not _done(ctx, KSR.rtpengine.rtpengine_offer(offer_flags(sender, receiver, ctx.media, tuple(codecs)))):
        KSR.err(f"media: rtpengine re-offer failed {log_ctx()}\n")
        return
    # The party on the other end of this offer is the one who hears the music.
    change = hold_change(pv("$rb"), on_hold=record.moh_listener == pv("$tt"))
    moh = {HoldChange.HOLD: "play", HoldChange.RESUME: "stop"}.get(change, "")
    Transaction(offerer=sender.value, initial=False, moh=moh, media_set=record.media_set).save()
    KSR.tm.t_on_reply(REPLY_ROUTE)


def on_reply(ctx: Context, record: CallRecord, tx: Transaction) -> None:
    """tm reply route: answer 183/2xx SDP per branch, drop failed branches, start/stop music;
    the offer a late-offer call's 2xx carries."""
    if tx.late_offer:
        _late_offer_reply(ctx, record)
        return
    offerer = _kind(tx.offerer)
    status = int(pv("$rs") or 0)
    if offerer is None or status < 180:
        return
    body = pv("$rb")
    if status < 300 and not has_sdp(body):  # ringing without early media: nothing to answer
        return
    initial = tx.initial
    select_set(ctx, tx.media_set)
    if initial:
        answerer = leg_kind(pv("$pr"), body)
        if not engaged(offerer, answerer, ctx.media):
            return
        KSR.pv.sets(EXTRA_ID, pv("$T_branch_idx"))
        if status >= 300:
            KSR.rtpengine.rtpengine_delete("via-branch=extra")
            return
    elif status >= 300:
        return
    flags = answer_flags(offerer) + (PER_BRANCH if initial else "")
    if not _done(ctx, KSR.rtpengine.rtpengine_answer(flags)):
        KSR.err(f"media: rtpengine answer failed {log_ctx()}\n")
        return
    if status >= 200 and initial:
        record.anchored, record.callee_leg = True, answerer.value
    elif status >= 200 and tx.moh:
        action, tx.moh = tx.moh, ""  # once per transaction, whatever retransmitted 2xx come after
        _music(ctx, record, action, listener=pv("$tt"), holder=pv("$ft"))


def _music(ctx: Context, record: CallRecord, action: str, listener: str, holder: str) -> None:
    """Music to `listener`; the holder's own audio is blocked meanwhile, so the listener hears
    one clean stream rather than music interleaved with the holder's (muted) stream."""
    select_set(ctx, record.media_set)
    if action == "play":
        KSR.rtpengine.block_media(f"from-tag={holder}")
        played = KSR.rtpengine.play_media(f"from-tag={listener} file={ctx.settings.moh_path} repeat-times=10000")
        if played <= 0:
            KSR.err(f"media: music on hold could not start {log_ctx()}\n")
        record.moh_listener = listener
    elif action == "stop":
        KSR.rtpengine.stop_media(f"from-tag={listener}")
        KSR.rtpengine.unblock_media(f"from-tag={holder}")
        record.moh_listener = ""


WAIT_BRANCH = "edge-wait"  # rtpengine branch of the waiting music, apart from the members' branches
WAIT_TAG = "edge-wait"


def waiting_music(ctx: Context) -> str:
    """A caller about to wait in a queue: rtpengine answers its offer itself (the answerer a
    black hole that only sends) and plays the music to it. Returns the SDP for the 183, or ''
    when the caller cannot wait with music (no SDP, a WebRTC caller, rtpengine down)."""
    if not has_sdp() or leg_kind(pv("$pr"), pv("$rb")) is not LegKind.RTP or not ctx.rtpengine.usable():
        return ""
    call = {"call-id": pv("$ci"), "from-tag": pv("$ft"), "via-branch": WAIT_BRANCH}
    session = {**call, "flags": ["trust-address"], "replace": ["origin", "session-connection"], "ICE": "remove"}
    addr = ng_for(ctx, pv("$ci"))
    try:
        offer = ng_command(addr, {"command": "offer", "sdp": pv("$rb"), **session}, NG_TIMEOUT)
        answer = ng_command(addr, {"command": "answer", "to-tag": WAIT_TAG, **session,
                                   "sdp": black_hole_answer(_text(offer.get("sdp")))}, NG_TIMEOUT)
        played = ng_command(addr, {"command": "play media", **call, "file": str(ctx.settings.queue_wait_path),
                                   "repeat-times": 10000}, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        KSR.err(f"media: waiting music failed: {e} {log_ctx()}\n")
        return ""
    if played.get("result") != b"ok" or answer.get("result") != b"ok":
        KSR.err(f"media: waiting music refused: {played.get('error-reason') or answer.get('error-reason')!r} "
                f"{log_ctx()}\n")
        return ""
    return _text(answer.get("sdp"))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else ""


def stop_waiting_music(listener: str) -> None:
    if listener:
        KSR.rtpengine.stop_media(f"from-tag={listener}")


def end_call(ctx: Context, call_id: str, media_set: int = NO_MEDIA) -> None:
    """Dialog over (BYE, timeout, failure, CANCEL): free every session of the call on the
    rtpengine holding it (on every one of the pool when that is not known).

    The BYE of the call is there to read: through the module, in C. Otherwise (dialog events
    of timers, failures and the API run without it) straight over the ng protocol.
    With rtpengine down the session is left to the periodic reconcile (sip/reconcile.py)."""
    if not call_id:
        return
    if not ctx.rtpengine.usable():
        KSR.notice(f"media: rtpengine down, delete of call-id={call_id} left to the reconcile\n")
        return
    pool = ctx.settings.media_pool
    if 0 <= media_set < len(pool) and pv("$rm") == "BYE" and pv("$ci") == call_id:
        select_set(ctx, media_set)
        if not _done(ctx, KSR.rtpengine.rtpengine_delete(WHOLE_CALL)):
            KSR.err(f"media: rtpengine {pool[media_set].ng} delete failed for call-id={call_id}\n")
        return
    try:
        down = disabled_sets() if len(pool) > 1 else set()
    except rpc.RpcError:
        down = set()
    for index in [media_set] if 0 <= media_set < len(pool) else range(len(pool)):
        if index in down:
            KSR.notice(f"media: rtpengine {pool[index].ng} down, delete of call-id={call_id} left to the reconcile\n")
            continue
        try:
            ng_command(pool[index].ng, {"command": "delete", "call-id": call_id}, NG_TIMEOUT)
        except (OSError, ValueError) as e:
            if isinstance(e, OSError) and len(pool) == 1:
                ctx.rtpengine.failed()
            KSR.err(f"media: rtpengine {pool[index].ng} delete failed for call-id={call_id}: {e}\n")
            continue
        ctx.rtpengine.succeeded()


def prepare_failover(record: CallRecord, tx: Transaction, callee_codecs: list[str]) -> None:
    """Failure route about to relay a new branch (gateway failover): re-arm the branch route
    so the new branch gets its own offer, with the new callee's codecs."""
    if not tx.offerer:
        return
    tx.callee_codecs = record.callee_codecs = list(callee_codecs)
    KSR.tm.t_on_branch(BRANCH_ROUTE)
