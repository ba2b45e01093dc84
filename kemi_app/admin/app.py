"""The admin listener's routes. /health and /metrics are open (loopback by default);
everything under /v1 needs the bearer token from EDGE_API_TOKEN."""

from __future__ import annotations

import hmac

from kemi_app import rtpengine_ng
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, HttpResponse, Router, error
from kemi_app.settings import Settings
from kemi_app.state import EdgeState


def token_ok(settings: Settings, req: HttpRequest) -> bool:
    expected = settings.api_token
    given = req.headers.get("authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given[len("Bearer ") :].strip().encode(), expected.encode())


class AdminApp:
    def __init__(self, settings: Settings, state: EdgeState) -> None:
        self.settings = settings
        self.state = state
        self.open = Router()
        self.open.add("GET", "/health", lambda req, params: self.health())
        self.api = Router()

    def health(self) -> HttpResponse:
        return health(
            {
                "redis": self.state.ping,
                "rtpengine": lambda: rtpengine_ng.ping(self.settings.rtpengine_ng, 0.5),
            }
        )

    def handle(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith("/v1/") or req.path == "/v1":
            if not token_ok(self.settings, req):
                return error(401, "missing or invalid bearer token", "Authorization")
            return self.api.dispatch(req)
        return self.open.dispatch(req)
