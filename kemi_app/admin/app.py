"""The admin listener's routes. /health and /metrics are open (loopback by default);
everything under /v1 needs the bearer token from EDGE_API_TOKEN."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from kemi_app import metrics, rtpengine_ng
from kemi_app.admin.api import ProvisioningApi
from kemi_app.admin.calls_api import CallsApi, TransferOrg
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, HttpResponse, Router, error, unsupported_media
from kemi_app.policy.interorg import Outcome, TransferRequest
from kemi_app.settings import Settings
from kemi_app.state import EdgeState


def token_ok(settings: Settings, req: HttpRequest) -> bool:
    expected = settings.api_token
    given = req.headers.get("authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given[len("Bearer ") :].strip().encode(), expected.encode())


class AdminApp:
    def __init__(
        self, settings: Settings, state: EdgeState,
        kamailio_families: Callable[[], list[metrics.Family]] = list,
        transfer_org: TransferOrg | None = None,
        started: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.state = state
        self.kamailio_families = kamailio_families
        self.started = started
        self.open = Router()
        self.open.add("GET", "/health", lambda req, params: self.health())
        self.open.add("GET", "/metrics", lambda req, params: self.metrics())
        self.api = Router()
        calls = CallsApi(state, transfer_org or _no_sip, settings.peer_addresses)
        ProvisioningApi(state).register(self.api, calls.routes())

    def checks(self) -> dict[str, Callable[[], bool]]:
        return {
            "redis": self.state.ping,
            "rtpengine": lambda: rtpengine_ng.ping(self.settings.rtpengine_ng, 0.5),
        }

    def health(self) -> HttpResponse:
        return health(self.checks(), self.started())

    def metrics(self) -> HttpResponse:
        families = [*self.kamailio_families(), *component_families(self.checks())]
        try:
            counts = self.state.agents.agent_state_counts()
        except Exception:  # Redis down: edge_redis_up says so; the rest of the scrape still helps
            counts = {}
        families.append(metrics.Family(
            "edge_agents", "Agents by state per org", "gauge", ("org", "state"),
            tuple(((org, st), float(n)) for (org, st), n in sorted(counts.items())),
        ))
        return HttpResponse(200, metrics.render(families).decode(), metrics.CONTENT_TYPE)

    def handle(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith("/v1/") or req.path == "/v1":
            if not token_ok(self.settings, req):
                return error(401, "missing or invalid bearer token", "Authorization")
            return unsupported_media(req) or self.api.dispatch(req)
        return self.open.dispatch(req)


def _no_sip(att_id: str, org: str) -> TransferRequest:
    return TransferRequest(Outcome.UNAVAILABLE, att_id, org)


def component_families(checks: dict[str, Callable[[], bool]]) -> list[metrics.Family]:
    """edge_redis_up, edge_rtpengine_up: 1 when the component answers this scrape."""
    families = []
    for name, check in checks.items():
        try:
            up = bool(check())
        except Exception:
            up = False
        families.append(metrics.Family(f"edge_{name}_up", f"1 when {name} answers the edge", "gauge", (),
                                       (((), 1.0 if up else 0.0),)))
    return families
