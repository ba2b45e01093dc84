"""/v1 call records: an attendance's history and recordings, an agent's recent calls, the
inter-org transfer for platforms whose softphones cannot send REFER, and recording a call."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kemi_app.admin.api import Params, Route, body_json
from kemi_app.admin.forward import forward, forwarded
from kemi_app.admin.router import HttpRequest, HttpResponse, error, json_response
from kemi_app.policy.attendance import is_attendance_id
from kemi_app.policy.feature_codes import Feature
from kemi_app.policy.interorg import Outcome, TransferRequest
from kemi_app.policy.recording import READY, Action, Recording
from kemi_app.policy.recording import Refusal as RecordingRefusal
from kemi_app.policy.supervision import Refusal as SupervisionRefusal
from kemi_app.policy.transfer import NO_WORD, Progress, progress_now
from kemi_app.provisioning.agent import extension
from kemi_app.provisioning.errors import Missing, ValidationError
from kemi_app.provisioning.recording import parse_recording_request
from kemi_app.provisioning.supervision import parse_supervise
from kemi_app.provisioning.transfer import parse_transfer_org
from kemi_app.state import EdgeState

# (attendance id, destination org) -> what became of it; sends SIP, so it lives in sip/.
TransferOrg = Callable[[str, str], TransferRequest]
# (org, agent ext, supervisor ext, mode) -> None when the edge is calling the supervisor.
Supervise = Callable[[str, str, str, Feature], SupervisionRefusal | None]
# The SIP status of a refused supervision -> HTTP: no agent, no call / unreachable / a browser
# leg for whisper or barge, no media.
SUPERVISION_HTTP = {403: 403, 404: 404, 480: 409, 488: 409, 503: 503}
# (attendance id, start or stop) -> the recording started, those stopped, or why not; sip/ too.
RecordCall = Callable[[str, Action], Recording | list[Recording] | RecordingRefusal]
RECENT_MAX = 50
# Kamailio's xhttp takes the reply body from Python as text: audio goes base64 in JSON, and a
# reply is built in one worker's memory, so larger files are named, not sent.
MAX_AUDIO_BYTES = 4 * 1024 * 1024
NO_CALL = 409  # the attendance has no customer call on this node


class CallsApi:
    def __init__(self, state: EdgeState, transfer_org: TransferOrg, supervise: Supervise,
                 record_call: RecordCall, peers: frozenset[str] = frozenset()) -> None:
        self.s = state
        self.transfer_org = transfer_org
        self.supervise = supervise
        self.record_call = record_call
        self.peers = peers  # host:port of the configured peer nodes (EDGE_PEERS)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/attendances/{attendance}", "An attendance and its history, in order", None,
                  self.get_attendance),
            Route("GET", "/v1/orgs/{org}/agents/{ext}/calls", "An agent's recent calls, newest first (?limit=N)",
                  None, self.recent_calls),
            Route("POST", "/v1/calls/{attendance}/transfer-org",
                  "Transfer the customer to another org's IVR: 202 once the REFER is sent (the outcome at "
                  "GET), or 403 naming the rule that refused", "TransferOrg", self.post_transfer_org),
            Route("GET", "/v1/calls/{attendance}/transfer-org",
                  "How the attendance's inter-org transfer asked for here went: pending, succeeded, failed",
                  None, self.get_transfer_org),
            Route("POST", "/v1/orgs/{org}/agents/{ext}/supervision",
                  "The edge calls the supervisor, who then listens to, whispers to or barges into the agent's "
                  "current call (202); 403 not a supervisor, 404 no such agent, 409 no call or supervisor "
                  "not reachable", "Supervise", self.post_supervision),
            Route("POST", "/v1/calls/{attendance}/recordings",
                  "Start (201) or stop (200) recording the attendance's call in progress; 409 past two "
                  "recordings or when already (not) recording, 404 without a call", "RecordingRequest",
                  self.post_recording),
            Route("GET", "/v1/attendances/{attendance}/recordings/{n}",
                  "One recording: state, who started and stopped it and why, files, duration, size", None,
                  self.get_recording),
            Route("GET", "/v1/attendances/{attendance}/recordings/{n}/audio",
                  "The recording's mixed WAV file, base64 in JSON (413 above 4 MB: the file is named)", None,
                  self.get_recording_audio),
        ]

    def _record(self, att_id: str) -> dict[str, object] | None:
        att = self.s.history.attendance(att_id) if is_attendance_id(att_id) else None
        if att is None:
            return None
        return {**asdict(att), "history": [e.to_fields() for e in self.s.history.attendance_history(att_id)],
                "recordings": [asdict(r) for r in self.s.recordings.of(att_id)]}

    def get_attendance(self, req: HttpRequest, p: Params) -> HttpResponse:
        record = self._record(p["attendance"])
        return json_response(200, record) if record else error(404, f"no such attendance: {p['attendance']}")

    def recent_calls(self, req: HttpRequest, p: Params) -> HttpResponse:
        ext = extension(p["ext"])
        if self.s.directory.get_org(p["org"]) is None:
            raise Missing(f"no such org: {p['org']}")
        raw = parse_qs(req.query).get("limit", ["20"])[-1]
        if not raw.isdigit() or not 1 <= int(raw) <= RECENT_MAX:
            raise ValidationError("limit", f"must be an integer from 1 to {RECENT_MAX}")
        calls = []
        for att_id in self.s.history.recent_attendances(p["org"], ext, int(raw)):
            att = self.s.history.attendance(att_id)
            if att is None:
                continue  # expired
            history = self.s.history.attendance_history(att_id)
            ended = [e.at for e in history if e.event == "end"]
            calls.append({
                "attendance": att_id, "origin": att.origin, "direction": att.direction, "queue": att.queue,
                "started_at": att.created_at, "ended_at": max(ended, default=None), "events": len(history),
            })
        return json_response(200, calls)

    def post_transfer_org(self, req: HttpRequest, p: Params) -> HttpResponse:
        if not is_attendance_id(p["attendance"]):
            return error(404, f"no such attendance: {p['attendance']}")
        org = parse_transfer_org(body_json(req))
        answer = transfer_answer(self.transfer_org(p["attendance"], org))
        if answer.status != NO_CALL or forwarded(req):
            return answer
        # The customer's call may be anchored on another node: the first one holding it answers.
        for node, card in self.s.nodes.alive().items():
            admin = peer_admin(node, card, self.peers)
            if admin is None:
                continue
            theirs = forward(admin, req)
            if theirs is not None and theirs.status != NO_CALL:
                return theirs
        return answer


    def get_transfer_org(self, req: HttpRequest, p: Params) -> HttpResponse:
        att_id = p["attendance"]
        stored = self.s.history.org_transfer(att_id) if is_attendance_id(att_id) else {}
        if not stored:
            return error(404, f"no inter-org transfer asked for attendance: {att_id}")
        return json_response(200, transfer_status(att_id, stored, time.time()))

    def post_supervision(self, req: HttpRequest, p: Params) -> HttpResponse:
        ext = extension(p["ext"])
        if self.s.directory.get_org(p["org"]) is None:
            raise Missing(f"no such org: {p['org']}")
        supervisor, mode = parse_supervise(body_json(req))
        refused = self.supervise(p["org"], ext, supervisor, mode)
        if refused is None:
            return json_response(202, {"agent": ext, "supervisor": supervisor, "mode": mode.value,
                                       "status": "calling the supervisor"})
        status = SUPERVISION_HTTP.get(refused.status, 409)
        return error(status, refused.reason, "supervisor" if refused.about_supervisor else None)

    def post_recording(self, req: HttpRequest, p: Params) -> HttpResponse:
        if not is_attendance_id(p["attendance"]):
            return error(404, f"no such attendance: {p['attendance']}")
        action = parse_recording_request(body_json(req))
        outcome = self.record_call(p["attendance"], action)
        if isinstance(outcome, RecordingRefusal):
            return error(outcome.status, outcome.reason)
        if isinstance(outcome, Recording):
            return json_response(201, asdict(outcome))
        return json_response(200, {"stopped": [asdict(r) for r in outcome]})

    def _recording(self, p: Params) -> Recording:
        n = p["n"]
        found = [r for r in self.s.recordings.of(p["attendance"]) if str(r.n) == n] \
            if is_attendance_id(p["attendance"]) else []
        if not found:
            raise Missing(f"no recording {n} of attendance {p['attendance']}")
        return found[0]

    def get_recording(self, req: HttpRequest, p: Params) -> HttpResponse:
        return json_response(200, asdict(self._recording(p)))

    def get_recording_audio(self, req: HttpRequest, p: Params) -> HttpResponse:
        rec = self._recording(p)
        if rec.state != READY:
            return error(409, f"recording {rec.n} is {rec.state}, not ready")
        path = Path(rec.file)
        size = path.stat().st_size if path.exists() else 0
        if size == 0:
            return error(404, f"the file of recording {rec.n} is gone: {rec.file}")
        if size > MAX_AUDIO_BYTES:
            return json_response(413, {"error": f"larger than {MAX_AUDIO_BYTES} bytes: fetch the file itself",
                                       "file": rec.file, "size": size})
        return json_response(200, {"file": rec.file, "content_type": "audio/wav", "encoding": "base64",
                                   "data": base64.b64encode(path.read_bytes()).decode()})


def peer_admin(node: str, card: dict[str, object], peers: frozenset[str]) -> str | None:
    """A live node's admin URL, if the node is a configured peer and the URL is on its host:
    the API token goes there, so never to an address Redis alone names."""
    hostport = node.removeprefix("sip:")
    admin = str(card.get("admin", ""))
    if hostport not in peers or urlsplit(admin).hostname != hostport.rsplit(":", 1)[0]:
        return None
    return admin


def transfer_status(att_id: str, stored: dict[str, str], now: float) -> dict[str, object]:
    started = float(stored.get("started") or 0)
    progress = progress_now(Progress(stored.get("status", Progress.PENDING.value)), started, now)
    timed_out = progress.value != stored.get("status")
    reason = NO_WORD if timed_out else stored.get("reason", "")
    return {
        "attendance": att_id, "org": stored.get("org", ""), "target": stored.get("target", ""),
        "status": progress.value, "reason": reason,
        "started_at": started, "ended_at": float(stored["ended"]) if stored.get("ended") else None,
    }


def transfer_answer(req: TransferRequest) -> HttpResponse:
    """The HTTP answer to an inter-org transfer request."""
    verdict = req.verdict
    if req.outcome is Outcome.STARTED and verdict is not None:
        return json_response(202, {"attendance": req.attendance, "org": req.org, "target": verdict.target_uri,
                                   "status": Progress.PENDING.value,
                                   "status_url": f"/v1/calls/{req.attendance}/transfer-org"})
    if req.outcome is Outcome.REFUSED and verdict is not None:
        return json_response(403, {"error": verdict.reason, "rule": verdict.rule.value if verdict.rule else "unknown"})
    if req.outcome is Outcome.NO_ORG:
        return error(404, f"no such org: {req.org}", "org")
    if req.outcome is Outcome.NO_CALL:
        return error(NO_CALL, "the attendance has no customer call in progress")
    if req.outcome is Outcome.UNAVAILABLE:
        return error(503, "calls can only be transferred from inside the edge")
    return error(404, f"no such attendance: {req.attendance}")
