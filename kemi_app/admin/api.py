"""The /v1 provisioning API: JSON in, JSON out, every write validated then stored atomically.

PUT creates or replaces a whole resource (201 when created, 200 when replaced); fields left
out take their defaults, except an agent's password, which is kept when not given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from kemi_app.admin.openapi import openapi_document
from kemi_app.admin.router import HttpRequest, HttpResponse, Router, error, json_response
from kemi_app.provisioning.agent import extension, parse_agent
from kemi_app.provisioning.agent_state import parse_dnd, parse_status
from kemi_app.provisioning.company import parse_company
from kemi_app.provisioning.did import parse_did
from kemi_app.provisioning.errors import Conflict, Missing, ValidationError
from kemi_app.provisioning.gateway import parse_gateway
from kemi_app.provisioning.org import parse_org
from kemi_app.provisioning.service import parse_service
from kemi_app.state import EdgeState
from kemi_app.state.agentstate import session_json

# Kamailio reads a whole HTTP request into one per-connection buffer (16 KB here, allocated
# in shared memory for every TCP/WS connection): a larger request never reaches Python and
# Kamailio closes the connection. Bodies up to the buffer but over this limit get 413.
MAX_BODY = 12288

Params = dict[str, str]


class PayloadTooLarge(Exception):
    pass


def body_json(req: HttpRequest) -> Any:
    try:
        raw = req.body.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes the caller kept as surrogates
        raise ValidationError("body", "not valid UTF-8") from None
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"body larger than {MAX_BODY} bytes")
    try:
        return json.loads(req.body or "null")
    except RecursionError:
        raise ValidationError("body", "JSON nested too deeply") from None
    except ValueError as e:
        raise ValidationError("body", f"not valid JSON: {e}") from None


def forced(req: HttpRequest) -> bool:
    return parse_qs(req.query).get("force", ["false"])[-1].lower() in ("1", "true", "yes")


def guarded(handler: Callable[[HttpRequest, Params], HttpResponse]) -> Callable[[HttpRequest, Params], HttpResponse]:
    """Domain errors become HTTP answers; path parameters arrive URL-decoded."""

    def run(req: HttpRequest, params: Params) -> HttpResponse:
        try:
            return handler(req, {k: unquote(p) for k, p in params.items()})
        except ValidationError as e:
            return error(400, e.message, e.field)
        except PayloadTooLarge as e:
            return error(413, str(e), "body")
        except Missing as e:
            return error(404, str(e))
        except Conflict as e:
            return error(409, str(e))

    return run


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    summary: str
    body: str | None  # name of the request body schema in the OpenAPI document
    handler: Callable[[HttpRequest, Params], HttpResponse]
    forceable: bool = False  # takes ?force=true


def found(entity: object | None, what: str, to_json: Callable[[Any], object] = asdict) -> HttpResponse:
    return json_response(200, to_json(entity)) if entity is not None else error(404, f"no such {what}")


def saved(created: bool, payload: object) -> HttpResponse:
    return json_response(201 if created else 200, payload)


def deleted(ok: bool, what: str) -> HttpResponse:
    # 200 with a body rather than 204: Kamailio logs a parse error for every bodiless 204 it sends.
    return json_response(200, {"deleted": what}) if ok else error(404, f"no such {what}")


class ProvisioningApi:
    def __init__(self, state: EdgeState) -> None:
        self.s = state

    def register(self, router: Router, more: Sequence[Route] = ()) -> None:
        s = self.s
        self.routes = [
            Route(
                "GET",
                "/v1/openapi.json",
                "This document",
                None,
                lambda r, p: json_response(200, openapi_document(self.routes)),
            ),
            Route(
                "GET",
                "/v1/orgs",
                "List orgs",
                None,
                lambda r, p: json_response(200, [asdict(o) for o in s.directory.list_orgs()]),
            ),
            Route("GET", "/v1/orgs/{org}", "Get an org", None,
                  lambda r, p: found(s.directory.get_org(p["org"]), "org")),
            Route("PUT", "/v1/orgs/{org}", "Create or replace an org", "Org", self.put_org),
            Route(
                "DELETE",
                "/v1/orgs/{org}",
                "Delete an org and everything in it (409 while its agents are in calls, unless ?force=true)",
                None,
                lambda r, p: deleted(s.directory.delete_org(p["org"], self._forced(r)), "org"),
                forceable=True,
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/links",
                "Orgs this org may transfer to",
                None,
                lambda r, p: json_response(200, s.directory.list_links(p["org"])),
            ),
            Route(
                "PUT",
                "/v1/orgs/{org}/links/{target}",
                "Allow transfers to another org",
                None,
                lambda r, p: saved(s.directory.save_link(p["org"], p["target"]),
                                   {"org": p["org"], "target": p["target"]}),
            ),
            Route(
                "DELETE",
                "/v1/orgs/{org}/links/{target}",
                "Remove a transfer link",
                None,
                lambda r, p: deleted(s.directory.delete_link(p["org"], p["target"]), "link"),
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/companies",
                "List companies",
                None,
                lambda r, p: self.listing(p, s.directory.list_companies),
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/companies/{company}",
                "Get a company",
                None,
                lambda r, p: found(s.directory.get_company(p["org"], p["company"]), "company"),
            ),
            Route(
                "PUT", "/v1/orgs/{org}/companies/{company}", "Create or replace a company", "Company", self.put_company
            ),
            Route(
                "DELETE",
                "/v1/orgs/{org}/companies/{company}",
                "Delete a company (409 while it has agents)",
                None,
                lambda r, p: deleted(s.directory.delete_company(p["org"], p["company"]), "company"),
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/agents",
                "List agents",
                None,
                lambda r, p: self.listing(p, s.directory.list_agents, lambda a: a.public()),
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/agents/{ext}",
                "Get an agent (never its digest)",
                None,
                lambda r, p: found(s.directory.get_agent(p["org"], p["ext"]), "agent", lambda a: a.public()),
            ),
            Route(
                "PUT",
                "/v1/orgs/{org}/agents/{ext}",
                "Create or replace an agent; the password is stored as HA1 only",
                "Agent",
                self.put_agent,
            ),
            Route(
                "DELETE",
                "/v1/orgs/{org}/agents/{ext}",
                "Delete an agent (409 while in a call, unless ?force=true)",
                None,
                lambda r, p: deleted(s.directory.delete_agent(p["org"], p["ext"], self._forced(r)), "agent"),
                forceable=True,
            ),
            Route("GET", "/v1/orgs/{org}/agents/{ext}/status", "The agent's chosen status", None, self.get_status),
            Route(
                "PUT",
                "/v1/orgs/{org}/agents/{ext}/status",
                "Pause (with a name) or make available",
                "Status",
                self.put_status,
            ),
            Route("PUT", "/v1/orgs/{org}/agents/{ext}/dnd", "Set or clear do-not-disturb", "Dnd", self.put_dnd),
            Route("GET", "/v1/orgs/{org}/agents/{ext}/presence", "One agent's presence", None, self.agent_presence),
            Route(
                "GET",
                "/v1/orgs/{org}/agents/{ext}/session",
                "The agent's current login session and its snapshot",
                None,
                self.agent_session,
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/presence",
                "Presence of every agent: state, pause name, time in state",
                None,
                self.org_presence,
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/sessions",
                "Login sessions of every agent",
                None,
                lambda r, p: self.listing(p, lambda o: s.agents.sessions(o), dict),
            ),
            Route(
                "GET", "/v1/orgs/{org}/services", "List services", None,
                lambda r, p: self.listing(p, s.directory.list_services),
            ),
            Route(
                "GET",
                "/v1/orgs/{org}/services/{ext}",
                "Get a service",
                None,
                lambda r, p: found(s.directory.get_service(p["org"], p["ext"]), "service"),
            ),
            Route("PUT", "/v1/orgs/{org}/services/{ext}", "Create or replace a service", "Service", self.put_service),
            Route(
                "DELETE",
                "/v1/orgs/{org}/services/{ext}",
                "Delete a service (409 while a DID lands on it)",
                None,
                lambda r, p: deleted(s.directory.delete_service(p["org"], p["ext"]), "service"),
            ),
            Route(
                "GET",
                "/v1/gateways",
                "Carrier gateways in the order they are tried",
                None,
                lambda r, p: json_response(200, [g.public() for g in s.directory.list_gateways()]),
            ),
            Route(
                "GET", "/v1/gateways/{gw}", "Get a gateway", None,
                lambda r, p: found(s.directory.get_gateway(p["gw"]), "gateway", lambda g: g.public()),
            ),
            Route("PUT", "/v1/gateways/{gw}", "Create or replace a gateway", "Gateway", self.put_gateway),
            Route(
                "DELETE",
                "/v1/gateways/{gw}",
                "Delete a gateway",
                None,
                lambda r, p: deleted(s.directory.delete_gateway(p["gw"]), "gateway"),
            ),
            Route(
                "GET",
                "/v1/dids",
                "List DIDs",
                None,
                lambda r, p: json_response(200, [asdict(d) for d in s.directory.list_dids()]),
            ),
            Route("GET", "/v1/dids/{number}", "Get a DID", None,
                  lambda r, p: found(s.directory.get_did(p["number"]), "DID")),
            Route("PUT", "/v1/dids/{number}", "Create or replace a DID", "Did", self.put_did),
            Route(
                "DELETE",
                "/v1/dids/{number}",
                "Delete a DID",
                None,
                lambda r, p: deleted(s.directory.delete_did(p["number"]), "DID"),
            ),
            *more,
        ]
        for route in self.routes:
            router.add(route.method, route.pattern, guarded(route.handler))

    def _org(self, params: Params):
        org = self.s.directory.get_org(params["org"])
        if org is None:
            raise Missing(f"no such org: {params['org']}")
        return org

    def listing(self, params: Params, load: Callable[[str], list[Any]], to_json: Callable[[Any], object] = asdict):
        self._org(params)
        return json_response(200, [to_json(item) for item in load(params["org"])])

    def put_org(self, req: HttpRequest, p: Params) -> HttpResponse:
        org = parse_org(p["org"], body_json(req))
        return saved(self.s.directory.save_org(org), asdict(org))

    def put_company(self, req: HttpRequest, p: Params) -> HttpResponse:
        company = parse_company(p["company"], body_json(req))
        return saved(self.s.directory.save_company(p["org"], company), asdict(company))

    def put_agent(self, req: HttpRequest, p: Params) -> HttpResponse:
        org = self._org(p)
        agent = parse_agent(p["ext"], body_json(req), org.domain, self.s.directory.get_agent(org.id, p["ext"]))
        return saved(self.s.directory.save_agent(org.id, agent), agent.public())

    def put_service(self, req: HttpRequest, p: Params) -> HttpResponse:
        service = parse_service(p["ext"], body_json(req))
        return saved(self.s.directory.save_service(p["org"], service), asdict(service))

    def put_gateway(self, req: HttpRequest, p: Params) -> HttpResponse:
        gateway = parse_gateway(p["gw"], body_json(req), self.s.directory.get_gateway(p["gw"]))
        return saved(self.s.directory.save_gateway(gateway), gateway.public())

    def put_did(self, req: HttpRequest, p: Params) -> HttpResponse:
        did = parse_did(p["number"], body_json(req))
        return saved(self.s.directory.save_did(did), asdict(did))

    # -- agent state --------------------------------------------------------------
    def _forced(self, req: HttpRequest) -> bool:
        """?force=true. Without it a delete is refused while the agents are in calls: this node's
        calls in progress still on their way to Redis (the history writer's) count too."""
        if forced(req):
            return True
        self.s.dialog_events.settle()
        return False

    def _agent(self, p: Params) -> str:
        extension(p["ext"])
        if self.s.directory.get_agent(self._org(p).id, p["ext"]) is None:
            raise Missing(f"no such agent: {p['ext']}")
        return p["ext"]

    def get_status(self, req: HttpRequest, p: Params) -> HttpResponse:
        status = self.s.agents.get_status(p["org"], self._agent(p))
        return json_response(
            200,
            {
                "status": "paused" if status.paused else "available",
                "pause": status.pause or None,
                "since": status.since or None,
            },
        )

    def put_status(self, req: HttpRequest, p: Params) -> HttpResponse:
        ext = self._agent(p)
        company = self.s.lookups.company_for_agent(p["org"], ext)
        self.s.agents.set_status(p["org"], ext, parse_status(body_json(req), time.time(), company.pause_types))
        return self.get_status(req, p)

    def put_dnd(self, req: HttpRequest, p: Params) -> HttpResponse:
        ext = self._agent(p)
        dnd = parse_dnd(body_json(req))
        self.s.directory.set_dnd(p["org"], ext, dnd)
        return json_response(200, {"ext": ext, "dnd": dnd})

    def agent_presence(self, req: HttpRequest, p: Params) -> HttpResponse:
        return json_response(200, self.s.agents.presence(p["org"], [self._agent(p)])[0].to_json())

    def org_presence(self, req: HttpRequest, p: Params) -> HttpResponse:
        self._org(p)
        return json_response(200, [item.to_json() for item in self.s.agents.presence(p["org"])])

    def agent_session(self, req: HttpRequest, p: Params) -> HttpResponse:
        session = self.s.agents.get_session(p["org"], self._agent(p))
        return json_response(200, {"ext": p["ext"], "session": None if session is None else session_json(session)})
