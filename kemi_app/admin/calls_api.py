"""/v1 call records: an attendance's history, an agent's recent calls, and the inter-org
transfer for platforms whose softphones cannot send REFER."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from urllib.parse import parse_qs, urlsplit

from kemi_app.admin.api import Params, Route, body_json
from kemi_app.admin.forward import forward, forwarded
from kemi_app.admin.router import HttpRequest, HttpResponse, error, json_response
from kemi_app.policy.attendance import is_attendance_id
from kemi_app.policy.interorg import Outcome, TransferRequest
from kemi_app.provisioning.agent import extension
from kemi_app.provisioning.errors import Missing, ValidationError
from kemi_app.provisioning.transfer import parse_transfer_org
from kemi_app.state import EdgeState

# (attendance id, destination org) -> what became of it; sends SIP, so it lives in sip/.
TransferOrg = Callable[[str, str], TransferRequest]
RECENT_MAX = 50
NO_CALL = 409  # the attendance has no customer call on this node


class CallsApi:
    def __init__(self, state: EdgeState, transfer_org: TransferOrg, peers: frozenset[str] = frozenset()) -> None:
        self.s = state
        self.transfer_org = transfer_org
        self.peers = peers  # host:port of the configured peer nodes (EDGE_PEERS)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/attendances/{attendance}", "An attendance and its history, in order", None,
                  self.get_attendance),
            Route("GET", "/v1/orgs/{org}/agents/{ext}/calls", "An agent's recent calls, newest first (?limit=N)",
                  None, self.recent_calls),
            Route("POST", "/v1/calls/{attendance}/transfer-org",
                  "Transfer the customer to another org's IVR (202), or 403 naming the rule that refused",
                  "TransferOrg", self.post_transfer_org),
        ]

    def _record(self, att_id: str) -> dict[str, object] | None:
        att = self.s.history.attendance(att_id) if is_attendance_id(att_id) else None
        if att is None:
            return None
        return {**asdict(att), "history": [e.to_fields() for e in self.s.history.attendance_history(att_id)]}

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


def peer_admin(node: str, card: dict[str, object], peers: frozenset[str]) -> str | None:
    """A live node's admin URL, if the node is a configured peer and the URL is on its host:
    the API token goes there, so never to an address Redis alone names."""
    hostport = node.removeprefix("sip:")
    admin = str(card.get("admin", ""))
    if hostport not in peers or urlsplit(admin).hostname != hostport.rsplit(":", 1)[0]:
        return None
    return admin


def transfer_answer(req: TransferRequest) -> HttpResponse:
    """The HTTP answer to an inter-org transfer request."""
    verdict = req.verdict
    if req.outcome is Outcome.STARTED and verdict is not None:
        return json_response(202, {"attendance": req.attendance, "org": req.org, "target": verdict.target_uri,
                                   "status": "transferring"})
    if req.outcome is Outcome.REFUSED and verdict is not None:
        return json_response(403, {"error": verdict.reason, "rule": verdict.rule.value if verdict.rule else "unknown"})
    if req.outcome is Outcome.NO_ORG:
        return error(404, f"no such org: {req.org}", "org")
    if req.outcome is Outcome.NO_CALL:
        return error(NO_CALL, "the attendance has no customer call in progress")
    if req.outcome is Outcome.UNAVAILABLE:
        return error(503, "calls can only be transferred from inside the edge")
    return error(404, f"no such attendance: {req.attendance}")
