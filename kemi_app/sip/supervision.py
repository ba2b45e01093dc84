"""Supervision: a supervisor dials `*51`/`*52`/`*53` + an agent's extension to listen to,
whisper to or barge into the agent's current call (kemi_app.policy.supervision).

The edge answers the supervisor's INVITE itself (200 OK with rtpengine's SDP) and wires the
media inside the supervised call's rtpengine session: the supervisor's audio is published,
the supervisor subscribes to both parties, and for whisper/barge the party who must hear the
supervisor is subscribed to it as well. The supervisor's ACK and BYE come straight to the
edge (its Contact names a `sup-` user); the BYE stops the media. Starts and stops go into the
supervised call's attendance history.
"""

from __future__ import annotations

import secrets
import time

import KSR

from kemi_app.policy.attendance import SUPERVISION_START, SUPERVISION_STOP, Event
from kemi_app.policy.dialplan import DestKind
from kemi_app.policy.feature_codes import Feature, FeatureRequest
from kemi_app.policy.supervision import (
    Offer,
    Sides,
    answer_to_supervisor,
    count_media,
    hears_supervisor,
    media_toward,
    mirror_to,
    parse_offer,
    refusal,
    sides,
)
from kemi_app.provisioning.org import Org
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import rpc
from kemi_app.sip.context import Context, log_ctx, pv, refuse, reply
from kemi_app.sip.transfers import edge_hostport
from kemi_app.state import CallView
from kemi_app.state.supervision import Session

CONTACT_PREFIX = "sup-"
NG_TIMEOUT = 0.4
KIND = DestKind.FEATURE.value
CONFIRMED = 4  # dialog module state of an answered call


class MediaError(RuntimeError):
    pass


def _ng(ctx: Context, cmd: dict[str, object]) -> dict[str, object]:
    try:
        answer = ng_command(ctx.settings.rtpengine_ng, cmd, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        raise MediaError(f"{cmd['command']}: {e}") from None
    if answer.get("result") != b"ok":
        raise MediaError(f"{cmd['command']}: {answer.get('error-reason')!r}")
    return answer


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def start(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> None:
    ext = request.argument
    target = ctx.state.supervisions.supervision_target(org.id, ext)
    refused = refusal(view.caller, target.agent, ext, len(target.calls))
    if refused is not None:
        refuse(org.id, KIND, refused.status, refused.reason)
        return
    offer = parse_offer(pv("$rb"))
    if offer is None:
        refuse(org.id, KIND, 488, "An Audio Offer Is Needed")
        return
    call_id, attendance = target.calls[0]
    parties = _sides(ext, call_id)
    if parties is None:
        refuse(org.id, KIND, 480, "Agent Not On A Call")
        return
    token = secrets.token_hex(6)
    session = Session(org.id, user, ext, request.feature.value, call_id, attendance,
                      listen_tag=f"sup{token}l", publish_tag=f"sup{token}p")
    try:
        answer = _wire(ctx, session, parties, offer)
    except MediaError as e:
        KSR.err(f"supervision: media could not be wired, {e} {log_ctx()}\n")
        _unwire(ctx, session)
        refuse(org.id, KIND, 503, "Supervision Media Unavailable")
        return
    ctx.state.supervisions.save_supervision(pv("$ci"), session)
    _event(ctx, session, SUPERVISION_START)
    KSR.textops.set_reply_body(answer, "application/sdp")
    refuse(org.id, KIND, 200, "OK", (f"Contact: <sip:{CONTACT_PREFIX}{token}@{edge_hostport(ctx)}>",))


def _sides(ext: str, call_id: str) -> Sides | None:
    try:
        found = rpc.call("dlg.dlg_list", call_id)
    except rpc.RpcError:
        return None
    dialogs = found if isinstance(found, list) else [found] if found else []
    for d in dialogs:
        if isinstance(d, dict) and d.get("state") == CONFIRMED:
            return sides(ext, str(d.get("from_uri", "")), str(d["caller"]["tag"]), str(d["callee"]["tag"]))
    return None


def _wire(ctx: Context, s: Session, parties: Sides, offer: Offer) -> str:
    """rtpengine: the supervisor hears both parties, and is heard as the mode says. Returns
    the SDP answer for the supervisor."""
    listen = _ng(ctx, {"command": "subscribe request", "call-id": s.call_id, "to-tag": s.listen_tag,
                       "from-tags": [parties.other, parties.agent], "transport-protocol": "RTP/AVP",
                       "ICE": "remove"})
    _ng(ctx, {"command": "subscribe answer", "call-id": s.call_id, "to-tag": s.listen_tag,
              "sdp": media_toward(offer, "recvonly", count_media(_text(listen.get("sdp")))),
              "flags": ["allow transcoding"]})
    published = _ng(ctx, {"command": "publish", "call-id": s.call_id, "from-tag": s.publish_tag,
                          "sdp": media_toward(offer, "sendonly")})
    agent_hears, other_hears = hears_supervisor(Feature(s.mode))
    if agent_hears:
        _add_supervisor_to(ctx, s, hearer=parties.agent, party=parties.other)
    if other_hears:
        _add_supervisor_to(ctx, s, hearer=parties.other, party=parties.agent)
    return answer_to_supervisor(_text(published.get("sdp")), Feature(s.mode))


def _add_supervisor_to(ctx: Context, s: Session, hearer: str, party: str) -> None:
    """`hearer` keeps receiving `party` and also gets the supervisor's stream, on the same
    RTP port it already uses: no re-INVITE toward it."""
    endpoint = _endpoint(ctx, s.call_id, hearer)
    sub = _ng(ctx, {"command": "subscribe request", "call-id": s.call_id, "to-tag": hearer,
                    "from-tags": [party, s.publish_tag]})
    _ng(ctx, {"command": "subscribe answer", "call-id": s.call_id, "to-tag": hearer,
              "sdp": mirror_to(_text(sub.get("sdp")), *endpoint), "flags": ["allow transcoding"]})


def _endpoint(ctx: Context, call_id: str, tag: str) -> tuple[str, int]:
    """Where the party receives its RTP now (rtpengine's view of its first stream)."""
    answer = _ng(ctx, {"command": "query", "call-id": call_id})
    tags = answer.get("tags")
    info = tags.get(tag) if isinstance(tags, dict) else None
    try:
        endpoint = info["medias"][0]["streams"][0]["endpoint"]  # type: ignore[index]
        return _text(endpoint["address"]), int(endpoint["port"])
    except (KeyError, IndexError, TypeError):
        raise MediaError(f"no media endpoint for tag {tag}") from None


def _unwire(ctx: Context, s: Session) -> None:
    """Best effort (the supervised call may be over): nothing reaches or leaves the supervisor."""
    stops: tuple[dict[str, object], ...] = (
        {"command": "unsubscribe", "call-id": s.call_id, "to-tag": s.listen_tag},
        {"command": "block media", "call-id": s.call_id, "from-tag": s.publish_tag},
    )
    for cmd in stops:
        try:
            _ng(ctx, cmd)
        except MediaError as e:
            KSR.info(f"supervision: {e} call-id={s.call_id}\n")


def _event(ctx: Context, s: Session, name: str) -> None:
    if s.attendance:
        ctx.state.history.record_events(Event(s.attendance, name, time.time(), s.org, actor=s.supervisor,
                                              target=s.agent, detail=s.mode, call_id=pv("$ci")))


def owns_request() -> bool:
    """An in-dialog request of a supervisor's call: sent to the Contact the edge gave it."""
    return pv("$rU").startswith(CONTACT_PREFIX) and KSR.is_myself_ruri() > 0


def in_dialog(ctx: Context) -> None:
    method = pv("$rm")
    if method == "ACK":
        KSR.tm.t_check_trans()
        return
    if method == "BYE":
        session = ctx.state.supervisions.take_supervision(pv("$ci"))
        if session is None:
            reply(481, "Call/Transaction Does Not Exist")
            return
        _unwire(ctx, session)
        _event(ctx, session, SUPERVISION_STOP)
        reply(200, "OK")
        return
    if method == "OPTIONS":
        reply(200, "OK")
        return
    reply(488, "Supervision Media Cannot Change")
