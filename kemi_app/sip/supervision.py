"""Supervision: a supervisor listens to, whispers to or barges into an agent's current call
(kemi_app.policy.supervision), by dialling `*51`/`*52`/`*53` + the agent's extension, or
through the API, which makes the edge call the supervisor.

The media is wired inside the supervised call's rtpengine session: the supervisor's audio is
published, the supervisor subscribes to both parties, and for whisper/barge the party who must
hear the supervisor is subscribed to it too. The edge itself is the supervisor's peer: its
Contact names a `sup-` user, so the supervisor's ACK and BYE come straight here (the BYE stops
the media). Starts and stops go into the supervised call's attendance history.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

import KSR

from kemi_app.policy.attendance import SUPERVISION_START, SUPERVISION_STOP, Event
from kemi_app.policy.dialplan import DestKind
from kemi_app.policy.feature_codes import CODES, Feature, FeatureRequest
from kemi_app.policy.supervision import (
    Offer,
    Refusal,
    answer_to_supervisor,
    callable_binding,
    codec_names,
    contact_uri,
    count_media,
    hears_supervisor,
    media_toward,
    mirror_to,
    parse_offer,
    placeholder,
    received_host,
    refusal,
    sides,
)
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.org import Org
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import media, rpc
from kemi_app.sip.context import Context, log_ctx, pv, refuse, reply
from kemi_app.sip.transfers import edge_hostport
from kemi_app.state import CallView
from kemi_app.state.supervision import Session

CONTACT_PREFIX = "sup-"
NG_TIMEOUT = 0.4
KIND = DestKind.FEATURE.value
ANSWERED = (3, 4)  # dialog module states of an answered call: its ACK not yet seen, or seen
MEDIA_DOWN = Refusal(503, "Supervision Media Unavailable")
NOT_PLAIN = Refusal(488, "Whisper And Barge Need Plain RTP Legs")


class MediaError(RuntimeError):
    pass


# -- the supervisor dials a feature code ---------------------------------------------------
def start(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> None:
    offer = parse_offer(pv("$rb"))
    if offer is None:
        refuse(org.id, KIND, 488, "An Audio Offer Is Needed")
        return
    session = _session(ctx, org.id, view.caller, user, request.argument, request.feature)
    if isinstance(session, Refusal):
        refuse(org.id, KIND, session.status, session.reason)
        return
    # Stateful from here: a retransmitted INVITE is absorbed (not wired twice), and the 200 OK
    # is retransmitted until the supervisor's ACK.
    KSR.tm.t_newtran()
    try:
        published = _publish(ctx, session, offer)
        _subscribe(ctx, session, offer)
    except MediaError as e:
        KSR.err(f"supervision: media could not be wired, {e} {log_ctx()}\n")
        _unwire(ctx, session)
        refuse(org.id, KIND, MEDIA_DOWN.status, MEDIA_DOWN.reason)
        return
    KSR.textops.set_reply_body(answer_to_supervisor(published, request.feature), "application/sdp")
    refuse(org.id, KIND, 200, "OK", (f"Contact: {_contact(ctx, session)}",))
    session = replace(session, peer_contact=contact_uri(pv("$ct")),
                      peer_nexthop=f"sip:{pv('$si')}:{pv('$sp')};transport={pv('$pr')}",
                      peer_socket=f"{pv('$pr')}:{pv('$Ri')}:{pv('$Rp')}",
                      local=f"<{pv('$tu')}>;tag={pv('$ltt')}", remote=f"<{pv('$fu')}>;tag={pv('$ft')}")
    ctx.state.supervisions.save_supervision(pv("$ci"), session)
    _event(ctx, session, SUPERVISION_START, pv("$ci"))


# -- the API asks the edge to call the supervisor -------------------------------------------
def call_supervisor(ctx: Context, org_id: str, ext: str, supervisor_ext: str, mode: Feature) -> Refusal | None:
    """Calls the supervisor's SIP client with an offer for the supervision; the media is
    completed when it answers (on_reply). None: the call is on its way."""
    supervisor = ctx.state.directory.get_agent(org_id, supervisor_ext)
    session = _session(ctx, org_id, supervisor, supervisor_ext, ext, mode)
    if isinstance(session, Refusal):
        return session
    binding = callable_binding(ctx.state.registrations.bindings(org_id, supervisor_ext))
    if binding is None:
        return Refusal(480, "Supervisor Not Reachable", True)
    try:
        published = _publish(ctx, session, placeholder(received_host(binding.received)))
    except MediaError as e:
        KSR.err(f"supervision: could not publish for the supervisor, {e}\n")
        _unwire(ctx, session)
        return MEDIA_DOWN
    org = ctx.state.directory.get_org(org_id)
    domain = org.domain if org else edge_hostport(ctx)
    code = next(c for c, f in CODES.items() if f is mode)  # shown as the caller
    session = replace(session, calling=True, peer_nexthop=binding.received, peer_socket=binding.socket,
                      local=f"<sip:*{code}{ext}@{domain}>;tag={session.token}")
    call_id = CONTACT_PREFIX + session.token
    ctx.state.supervisions.save_supervision(call_id, session)
    headers = (
        f"From: {session.local}\r\n"
        f"To: <sip:{supervisor_ext}@{domain}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: {_contact(ctx, session)}\r\n"
        "Content-Type: application/sdp\r\n"
        "Max-Forwards: 70\r\n"
    )
    body = answer_to_supervisor(published, mode)  # rtpengine's side, offered to the supervisor
    if KSR.tm.t_uac_send("INVITE", binding.contact, binding.received, binding.socket, headers, body) < 0:
        ctx.state.supervisions.take_supervision(call_id)
        _unwire(ctx, session)
        return Refusal(503, "Supervisor Could Not Be Called")
    return None


def on_reply(ctx: Context) -> None:
    """Reply route: the supervisor answered the edge's INVITE (a 2xx completes the media) or
    refused it (the published stream is dropped)."""
    status = int(pv("$rs") or 0)
    if status < 200:
        return
    call_id = pv("$ci")
    session = ctx.state.supervisions.supervision(call_id)
    if session is None or not session.calling:
        return  # not ours, or a retransmitted 2xx already handled
    offer = parse_offer(pv("$rb")) if status < 300 else None
    if offer is None:
        ctx.state.supervisions.take_supervision(call_id)
        _unwire(ctx, session)
        return
    try:
        _subscribe(ctx, session, offer)
    except MediaError as e:
        KSR.err(f"supervision: media could not be wired, {e} {log_ctx()}\n")
    ctx.state.supervisions.save_supervision(call_id, replace(
        session, calling=False, peer_contact=contact_uri(pv("$ct")), remote=f"<{pv('$tu')}>;tag={pv('$tt')}"))
    _event(ctx, session, SUPERVISION_START, pv("$ci"))


def call_ended(ctx: Context, sup_calls: list[str]) -> None:
    """Dialog event of a supervised call's end (`sup_calls`: its supervisors' Call-IDs): they
    are hung up, rtpengine dropped the media with the call."""
    for sup_call_id, session in ctx.state.supervisions.take_supervisions(sup_calls):
        _event(ctx, session, SUPERVISION_STOP, sup_call_id, "call ended")
        headers = (f"From: {session.local}\r\nTo: {session.remote}\r\nCall-ID: {sup_call_id}\r\n"
                   "CSeq: 2 BYE\r\nMax-Forwards: 70\r\n")
        if KSR.tm.t_uac_send("BYE", session.peer_contact, session.peer_nexthop, session.peer_socket,
                             headers, "") < 0:
            KSR.err(f"supervision: could not hang up supervisor {session.supervisor} call-id={sup_call_id}\n")


# -- the supervisor's dialog ---------------------------------------------------------------
def owns_request() -> bool:
    """An in-dialog request of a supervisor's call: sent to the Contact the edge gave it."""
    return pv("$rU").startswith(CONTACT_PREFIX) and KSR.is_myself_ruri() > 0


def in_dialog(ctx: Context) -> None:
    method = pv("$rm")
    if method == "ACK":
        KSR.tm.t_check_trans()  # stops the 2xx retransmissions
        return
    if method == "BYE":
        session = ctx.state.supervisions.take_supervision(pv("$ci"))
        if session is None:
            reply(481, "Call/Transaction Does Not Exist")
            return
        _unwire(ctx, session)
        _event(ctx, session, SUPERVISION_STOP, pv("$ci"), "supervisor hung up")
        reply(200, "OK")
        return
    if method == "OPTIONS":
        reply(200, "OK")
        return
    reply(488, "Supervision Media Cannot Change")


# -- shared --------------------------------------------------------------------------------
def _session(ctx: Context, org_id: str, supervisor: Agent | None, supervisor_ext: str, ext: str,
             mode: Feature) -> Session | Refusal:
    ctx.state.history.settle()  # the calls' attendances (Call-ID keys) come from the history writer
    target = ctx.state.supervisions.supervision_target(org_id, ext)
    refused = refusal(supervisor, target.agent, ext, len(target.calls))
    if refused is not None:
        return refused
    call_id, attendance = target.calls[0]
    dialog = _dialog(call_id)
    if dialog is None:
        return Refusal(480, "Agent Not On A Call")
    parties = sides(ext, str(dialog.get("from_uri", "")), str(dialog["caller"]["tag"]), str(dialog["callee"]["tag"]))
    session = Session(org_id, supervisor_ext, ext, mode.value, call_id, attendance, secrets.token_hex(6),
                      parties.agent, parties.other)
    try:
        plain = all(_protocol(ctx, call_id, tag) == "RTP/AVP" for tag in _hearers(session))
    except MediaError:
        return MEDIA_DOWN
    return session if plain else NOT_PLAIN


def _contact(ctx: Context, s: Session) -> str:
    return f"<sip:{CONTACT_PREFIX}{s.token}@{edge_hostport(ctx)}>"


def _dialog(call_id: str) -> dict | None:
    """The supervised call's answered dialog, as the dialog module lists it."""
    try:
        found = rpc.call("dlg.dlg_list", call_id)
    except rpc.RpcError:
        return None
    dialogs = found if isinstance(found, list) else [found] if found else []
    confirmed = [d for d in dialogs if isinstance(d, dict) and d.get("state") in ANSWERED]
    return confirmed[0] if confirmed else None


def _ng(ctx: Context, cmd: dict[str, object]) -> dict[str, object]:
    try:
        answer = ng_command(media.ng_for(ctx, str(cmd["call-id"])), cmd, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        raise MediaError(f"{cmd['command']}: {e}") from None
    if answer.get("result") != b"ok":
        raise MediaError(f"{cmd['command']}: {answer.get('error-reason')!r}")
    return answer


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _publish(ctx: Context, s: Session, offer: Offer) -> str:
    """The supervisor's audio enters the call's session; returns rtpengine's SDP for it."""
    published = _ng(ctx, {"command": "publish", "call-id": s.call_id, "from-tag": s.publish_tag,
                          "sdp": media_toward(offer, "sendonly")})
    return _text(published.get("sdp"))


def _subscribe(ctx: Context, s: Session, offer: Offer) -> None:
    """The supervisor (at `offer`'s address) hears both parties; who hears it, the mode says."""
    listen = _ng(ctx, {"command": "subscribe request", "call-id": s.call_id, "to-tag": s.listen_tag,
                       "from-tags": [s.other_tag, s.agent_tag], "transport-protocol": "RTP/AVP",
                       "ICE": "remove", "codec": {"mask": ["all"], "transcode": codec_names(offer)}})
    _ng(ctx, {"command": "subscribe answer", "call-id": s.call_id, "to-tag": s.listen_tag,
              "sdp": media_toward(offer, "recvonly", count_media(_text(listen.get("sdp")))),
              "flags": ["allow transcoding"]})
    for hearer in _hearers(s):
        _add_supervisor_to(ctx, s, hearer, party=s.other_tag if hearer == s.agent_tag else s.agent_tag)


def _hearers(s: Session) -> list[str]:
    """The parties' tags that hear the supervisor in its mode."""
    agent_hears, other_hears = hears_supervisor(Feature(s.mode))
    return [tag for tag, hears in ((s.agent_tag, agent_hears), (s.other_tag, other_hears)) if hears]


def _add_supervisor_to(ctx: Context, s: Session, hearer: str, party: str) -> None:
    """`hearer` keeps receiving `party` and also gets the supervisor's stream, on the same
    RTP port it already uses: no re-INVITE toward it."""
    endpoint = _endpoint(ctx, s.call_id, hearer)
    sub = _ng(ctx, {"command": "subscribe request", "call-id": s.call_id, "to-tag": hearer,
                    "from-tags": [party, s.publish_tag]})
    _ng(ctx, {"command": "subscribe answer", "call-id": s.call_id, "to-tag": hearer,
              "sdp": mirror_to(_text(sub.get("sdp")), *endpoint), "flags": ["allow transcoding"]})


def _first_media(ctx: Context, call_id: str, tag: str) -> dict:
    """rtpengine's view of a party's first media (protocol, streams and their endpoints)."""
    answer = _ng(ctx, {"command": "query", "call-id": call_id})
    tags = answer.get("tags")
    try:
        media = tags[tag]["medias"][0]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise MediaError(f"no media for tag {tag}") from None
    if not isinstance(media, dict):
        raise MediaError(f"no media for tag {tag}")
    return media


def _protocol(ctx: Context, call_id: str, tag: str) -> str:
    """RTP/AVP for a plain RTP leg; UDP/TLS/RTP/SAVPF for a browser's."""
    return _text(_first_media(ctx, call_id, tag).get("protocol"))


def _endpoint(ctx: Context, call_id: str, tag: str) -> tuple[str, int]:
    """Where the party receives its RTP now."""
    try:
        endpoint = _first_media(ctx, call_id, tag)["streams"][0]["endpoint"]
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


def _event(ctx: Context, s: Session, name: str, sup_call_id: str, reason: str = "") -> None:
    if s.attendance:
        ctx.state.history.record_events(Event(s.attendance, name, time.time(), s.org, actor=s.supervisor,
                                              target=s.agent, detail=s.mode, reason=reason,
                                              call_id=sup_call_id))
