"""rtpengine for every call with SDP: offer per branch, answer per branch, delete when over.

Initial INVITE: the offer is made in the branch route, one rtpengine session per tm branch
(via-branch=extra with the branch index), so forked and serial attempts stay independent;
a branch that fails is deleted alone. re-INVITE/UPDATE: offer on the request, answer on its
2xx, music on hold started or stopped once the hold is answered. The whole call is deleted
when the dialog ends or fails (dialog events), whatever ended it.

Transaction data lives in AVPs (seen by the branch and reply routes of the same
transaction); what later requests need lives in dialog variables.
"""

from __future__ import annotations

import KSR

from kemi_app.policy.media import (
    HoldChange,
    LegKind,
    MediaSettings,
    answer_flags,
    engaged,
    hold_change,
    leg_kind,
    offer_flags,
)
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import rpc
from kemi_app.sip.context import Context, log_ctx, pv

BRANCH_ROUTE = "ksr_branch_media"
REPLY_ROUTE = "ksr_onreply_media"

EXTRA_ID = "$avp(extra_id)"  # modparam rtpengine extra_id_pv: the per-branch session key
OFFERER = "$avp(media_offerer)"  # kind of the leg whose offer this transaction carries
INITIAL = "$avp(media_initial)"  # "1" on the initial INVITE's transaction
CODECS = "$avp(media_codecs)"  # codecs allowed toward the callee (a gateway's setting)
MOH = "$avp(media_moh)"  # "play" or "stop", acted on when the re-INVITE is answered
PER_BRANCH = " via-branch=extra"
NG_TIMEOUT = 0.4  # our own ng delete: like the module's commands, a stalled rtpengine must not hold a worker

# dialog variables: leg kinds and codecs of caller (c) and callee (e), the tag hearing music
DLG_MEDIA = "$dlg_var(media)"
DLG_CALLER = "$dlg_var(mck)"
DLG_CALLEE = "$dlg_var(mek)"
DLG_CALLER_CODECS = "$dlg_var(mcc)"
DLG_CALLEE_CODECS = "$dlg_var(mec)"
DLG_MOH = "$dlg_var(moh)"


def _settings(ctx: Context) -> MediaSettings:
    s = ctx.settings
    return MediaSettings(anchor_rtp=s.media_anchor_rtp, force_opus=s.media_force_opus)


def has_sdp() -> bool:
    return "application/sdp" in pv("$cT").lower() and "m=" in pv("$rb")


def _codecs(raw: str) -> tuple[str, ...]:
    return tuple(c for c in raw.split(",") if c)


def _kind(value: str) -> LegKind | None:
    try:
        return LegKind(value)
    except ValueError:
        return None


def prepare_initial(ctx: Context, callee_codecs: tuple[str, ...] = ()) -> None:
    """Before relaying an initial INVITE: arm the branch and reply routes that do the media.

    `callee_codecs` is the callee leg's allowed codecs (empty for agents)."""
    if not has_sdp():
        return  # late offer: not supported yet, signalling passes untouched
    caller = leg_kind(pv("$pr"), pv("$rb"))
    settings = _settings(ctx)
    # Refused before anything is relayed when rtpengine is surely needed and known down.
    if (settings.anchor_rtp or caller is LegKind.WEBRTC) and not ctx.rtpengine.usable():
        raise ctx.rtpengine.down()
    KSR.pv.sets(OFFERER, caller.value)
    KSR.pv.sets(INITIAL, "1")
    KSR.pv.sets(CODECS, ",".join(callee_codecs))
    KSR.pv.sets(DLG_CALLER, caller.value)
    KSR.pv.sets(DLG_CALLEE_CODECS, ",".join(callee_codecs))
    KSR.tm.t_on_branch(BRANCH_ROUTE)
    KSR.tm.t_on_reply(REPLY_ROUTE)


def _branch_kind() -> LegKind:
    target = (pv("$du") or pv("$ru")).lower()
    for transport in ("wss", "ws"):
        if f"transport={transport}" in target:
            return LegKind.WEBRTC
    return LegKind.RTP


def on_branch(ctx: Context) -> None:
    """Branch route of an initial INVITE: this branch's own offer, shaped for its callee."""
    caller = _kind(pv(OFFERER))
    if caller is None or pv(INITIAL) != "1":
        return
    callee = _branch_kind()
    settings = _settings(ctx)
    if not engaged(caller, callee, settings):
        return
    KSR.pv.sets(EXTRA_ID, pv("$T_branch_idx"))
    flags = offer_flags(caller, callee, settings, _codecs(pv(CODECS))) + PER_BRANCH
    if not ctx.rtpengine.usable() or not _done(ctx, KSR.rtpengine.rtpengine_offer(flags)):
        KSR.err(f"media: rtpengine offer failed, branch dropped {log_ctx()}\n")
        ctx.media_refused = True
        KSR.set_drop()


def _done(ctx: Context, rc: int) -> bool:
    """Reports a module command's outcome to the rtpengine breaker. A failure counts only when
    the module marked rtpengine unreachable (it timed out), not when rtpengine refused this
    call's SDP: a caller's bad SDP must not make the edge refuse everyone."""
    if rc > 0:
        ctx.rtpengine.succeeded()
        return True
    if _unreachable():
        ctx.rtpengine.failed()
    return False


def _unreachable() -> bool:
    try:
        nodes = rpc.call("rtpengine.show", "all")
    except rpc.RpcError:
        return True
    listed = nodes if isinstance(nodes, list) else [nodes]
    return all(isinstance(n, dict) and str(n.get("disabled", "0")) != "0" for n in listed)


def relay(ctx: Context) -> bool:
    """t_relay, with the 503 when it relayed nothing because rtpengine is down (every branch
    dropped by on_branch): that answer says when to come back, sl_reply_error's does not."""
    ctx.media_refused = False
    if KSR.tm.t_relay() > 0:
        return True
    if ctx.media_refused:
        raise ctx.rtpengine.down("no branch could get media")
    return False


def offer_in_dialog(ctx: Context) -> None:
    """re-INVITE/UPDATE with SDP inside an anchored call: re-offer, and track hold for music."""
    if pv(DLG_MEDIA) != "1" or not has_sdp():
        return
    caller, callee = _kind(pv(DLG_CALLER)), _kind(pv(DLG_CALLEE))
    if caller is None or callee is None:
        return
    if KSR.rr.is_direction("downstream") > 0:
        sender, receiver, codecs = caller, callee, pv(DLG_CALLEE_CODECS)
    else:
        sender, receiver, codecs = callee, caller, pv(DLG_CALLER_CODECS)
    if not ctx.rtpengine.usable():
        KSR.notice(f"media: rtpengine down, relayed without re-anchoring {log_ctx()}\n")
        return
    if not _done(ctx, KSR.rtpengine.rtpengine_offer(offer_flags(sender, receiver, _settings(ctx),
                                                                            _codecs(codecs)))):
        KSR.err(f"media: rtpengine re-offer failed {log_ctx()}\n")
        return
    KSR.pv.sets(OFFERER, sender.value)
    KSR.pv.sets(INITIAL, "0")
    # The party on the other end of this offer is the one who hears the music.
    change = hold_change(pv("$rb"), on_hold=pv(DLG_MOH) == pv("$tt"))
    if change is HoldChange.HOLD:
        KSR.pv.sets(MOH, "play")
    elif change is HoldChange.RESUME:
        KSR.pv.sets(MOH, "stop")
    KSR.tm.t_on_reply(REPLY_ROUTE)


def on_reply(ctx: Context) -> None:
    """tm reply route: answer 183/2xx SDP per branch, drop failed branches, start/stop music."""
    offerer = _kind(pv(OFFERER))
    if offerer is None:
        return
    status = int(pv("$rs") or 0)
    initial = pv(INITIAL) == "1"
    if initial:
        answerer = leg_kind(pv("$pr"), pv("$rb"))
        if not engaged(offerer, answerer, _settings(ctx)):
            return
        KSR.pv.sets(EXTRA_ID, pv("$T_branch_idx"))
        if status >= 300:
            KSR.rtpengine.rtpengine_delete("via-branch=extra")
            return
    if status < 180 or status >= 300 or not has_sdp():
        return
    flags = answer_flags(offerer) + (PER_BRANCH if initial else "")
    if not _done(ctx, KSR.rtpengine.rtpengine_answer(flags)):
        KSR.err(f"media: rtpengine answer failed {log_ctx()}\n")
        return
    if status >= 200 and initial:
        KSR.pv.sets(DLG_MEDIA, "1")
        KSR.pv.sets(DLG_CALLEE, answerer.value)
    elif status >= 200 and pv(MOH):
        action = pv(MOH)
        KSR.pv.unset(MOH)  # once per transaction, whatever retransmitted 2xx come after
        _music(ctx, action, listener=pv("$tt"), holder=pv("$ft"))


def _music(ctx: Context, action: str, listener: str, holder: str) -> None:
    """Music to `listener`; the holder's own audio is blocked meanwhile, so the listener hears
    one clean stream rather than music interleaved with the holder's (muted) stream."""
    if action == "play":
        KSR.rtpengine.block_media(f"from-tag={holder}")
        played = KSR.rtpengine.play_media(f"from-tag={listener} file={ctx.settings.moh_path} repeat-times=10000")
        if played <= 0:
            KSR.err(f"media: music on hold could not start {log_ctx()}\n")
        KSR.pv.sets(DLG_MOH, listener)
    elif action == "stop":
        KSR.rtpengine.stop_media(f"from-tag={listener}")
        KSR.rtpengine.unblock_media(f"from-tag={holder}")
        KSR.pv.sets(DLG_MOH, "")


def end_call(ctx: Context, call_id: str) -> None:
    """Dialog over (BYE, timeout, failure, CANCEL): free every session of the call.

    Straight over the ng protocol: dialog events may run without a SIP message to read.
    With rtpengine down the session is left to the periodic reconcile (sip/reconcile.py)."""
    if not call_id:
        return
    if not ctx.rtpengine.usable():
        KSR.notice(f"media: rtpengine down, delete of call-id={call_id} left to the reconcile\n")
        return
    try:
        ng_command(ctx.settings.rtpengine_ng, {"command": "delete", "call-id": call_id}, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        if isinstance(e, OSError):
            ctx.rtpengine.failed()
        KSR.err(f"media: rtpengine delete failed for call-id={call_id}: {e}\n")
        return
    ctx.rtpengine.succeeded()


def prepare_failover(callee_codecs: tuple[str, ...]) -> None:
    """Failure route about to relay a new branch (gateway failover): re-arm the branch route
    so the new branch gets its own offer, with the new callee's codecs."""
    if not pv(OFFERER):
        return
    KSR.pv.sets(CODECS, ",".join(callee_codecs))
    KSR.pv.sets(DLG_CALLEE_CODECS, ",".join(callee_codecs))
    KSR.tm.t_on_branch(BRANCH_ROUTE)
