"""The agent API on the WebSocket listener's HTTP side (/agent/v1, next to the softphone page):
an agent reads and changes its own state, authenticated by HTTP Digest with its own SIP
credentials (policy.http_digest), never the admin token.

  GET /agent/v1/state           state, pause, DND, auto-answer, session timers, pause types
  PUT /agent/v1/status          {"status":"paused","pause":"<a company pause type>"} or {"status":"available"}
  PUT /agent/v1/dnd             {"dnd": true|false}
  PUT /agent/v1/auto-answer     {"auto_answer": true|false} for the current login session

A request without credentials names its SIP domain (`?domain=demo.test`) to get the challenge.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs

from kemi_app.admin.api import body_json, guarded
from kemi_app.admin.router import HttpRequest, HttpResponse, error, json_response, unsupported_media
from kemi_app.policy import http_digest
from kemi_app.policy.auth_policy import counts_per_agent
from kemi_app.policy.digest import nonce_use
from kemi_app.policy.session import auto_answer
from kemi_app.provisioning.agent_state import parse_auto_answer, parse_dnd, parse_status
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.errors import Conflict
from kemi_app.provisioning.org import Org
from kemi_app.settings import Settings
from kemi_app.state import CallView, EdgeState

PREFIX = "/agent/v1"
NO_STORE = "Cache-Control: no-store"


@dataclass(frozen=True)
class Caller:
    """The authenticated agent of a request."""

    org: Org
    ext: str
    view: CallView


Handler = Callable[[Caller, HttpRequest], HttpResponse]


class AgentApi:
    def __init__(self, settings: Settings, state: EdgeState) -> None:
        self.settings = settings
        self.s = state
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/state"): lambda who, req: self.state(who),
            ("PUT", "/status"): self.put_status,
            ("PUT", "/dnd"): self.put_dnd,
            ("PUT", "/auto-answer"): self.put_auto_answer,
        }

    def handle(self, req: HttpRequest, source_ip: str) -> HttpResponse:
        resp = self._handle(req, source_ip)
        return replace(resp, headers=(*resp.headers, NO_STORE))

    def _handle(self, req: HttpRequest, source_ip: str) -> HttpResponse:
        path = req.path.removeprefix(PREFIX)
        methods = {method for method, p in self.routes if p == path}
        if not methods:
            return error(404, f"no such resource: {req.path}")
        if req.method.upper() not in methods:
            return error(405, f"method {req.method} not allowed on {req.path}")
        caller = self._authenticate(req, source_ip)
        if isinstance(caller, HttpResponse):
            return caller
        handler = self.routes[(req.method.upper(), path)]
        return unsupported_media(req) or guarded(lambda r, _: handler(caller, r))(req, {})

    # -- authentication ----------------------------------------------------------------
    def _challenge(self, realm: str, message: str, stale: bool = False) -> HttpResponse:
        nonce = http_digest.make_nonce(self.settings.auth_secret, realm, time.time(), secrets.token_hex(6))
        resp = error(401, message, "Authorization")
        return replace(resp, headers=(f"WWW-Authenticate: {http_digest.challenge(realm, nonce, stale)}",))

    def _authenticate(self, req: HttpRequest, source_ip: str) -> Caller | HttpResponse:
        header = req.headers.get("authorization", "")
        creds = http_digest.parse_credentials(header)
        if creds is None:
            realm = parse_qs(req.query).get("domain", [""])[-1].lower()
            if not realm:
                return error(401, "HTTP Digest credentials needed: add ?domain=<your SIP domain> for a challenge",
                             "domain")
            return self._challenge(realm, "HTTP Digest credentials needed (your SIP extension and password)")
        realm = creds.realm.lower()
        checked = http_digest.check_nonce(self.settings.auth_secret, realm, creds.nonce, time.time())
        if checked is not http_digest.NonceCheck.VALID:
            return self._challenge(realm, "nonce expired or not ours", stale=checked is http_digest.NonceCheck.STALE)
        target = req.path + (f"?{req.query}" if req.query else "")
        if creds.uri != target:
            return error(400, "the digest uri does not match the request", "Authorization")
        org = self.s.lookups.org_by_domain(realm)
        if org is None:
            return self._challenge(realm, "wrong extension or password")
        view = self.s.call_views.call_view(org.id, creds.username, source_ip, "", nonce_use(header))
        auth = view.auth
        if auth.failures >= self.settings.auth_max_failures:
            return error(403, "too many failed authentications", "Authorization")
        if auth.ha1 is None or not http_digest.response_ok(auth.ha1, req.method.upper(), creds):
            self.s.registrations.record_auth_failure(org.id, creds.username, source_ip,
                                                     per_agent=counts_per_agent(auth.ha1 is not None))
            return self._challenge(realm, "wrong extension or password")
        if not auth.fresh:  # these exact credentials were used before: a replay, or a client that lost count
            return self._challenge(realm, "credentials already used", stale=True)
        return Caller(org, creds.username, view)

    # -- the agent's own state -------------------------------------------------------------
    def _company(self, who: Caller) -> Company:
        company = who.view.caller.company if who.view.caller else ""
        return self.s.lookups.company_of(who.org.id, company, who.view.org_version)

    def state(self, who: Caller) -> HttpResponse:
        """Everything the softphone shows, with the server's clock so it can run the timers."""
        presence, status, session = self.s.agents.own_state(who.org.id, who.ext)
        agent = who.view.caller
        provisioned = bool(agent and agent.auto_answer)
        return json_response(200, {
            "ext": who.ext, "domain": who.org.domain, "display_name": agent.display_name if agent else who.ext,
            "state": presence.state, "status": "paused" if status.paused else "available",
            "pause": status.pause or None, "pause_blocks": status.blocks if status.paused else None,
            "dnd": presence.dnd,
            "auto_answer": auto_answer(provisioned, session.auto_answer if session else None),
            "since": presence.since, "seconds_in_state": presence.seconds_in_state,
            "session": None if session is None else {
                "started_at": session.started_at, "block_calls_during_pause": session.block_calls_during_pause,
            },
            "pause_types": [{"code": t.code, "name": t.name, "blocks_calls": t.blocks_calls}
                            for t in self._company(who).pause_types],
            "now": time.time(),
        })

    def put_status(self, who: Caller, req: HttpRequest) -> HttpResponse:
        chosen = parse_status(body_json(req), time.time(), self._company(who).pause_types)
        self.s.agents.set_status(who.org.id, who.ext, chosen)
        return self.state(who)

    def put_dnd(self, who: Caller, req: HttpRequest) -> HttpResponse:
        self.s.directory.set_dnd(who.org.id, who.ext, parse_dnd(body_json(req)))
        return self.state(who)

    def put_auto_answer(self, who: Caller, req: HttpRequest) -> HttpResponse:
        if not self.s.agents.set_session_auto_answer(who.org.id, who.ext, parse_auto_answer(body_json(req))):
            raise Conflict("no login session: register first; the choice lasts this login session")
        return self.state(who)

