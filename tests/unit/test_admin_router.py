from __future__ import annotations

import json

from kemi_app.admin.app import token_ok
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, Router, json_response
from kemi_app.settings import Settings


def test_router_matches_params_and_methods() -> None:
    r = Router()
    r.add("GET", "/v1/orgs/{org}/agents/{ext}", lambda req, p: json_response(200, p))
    ok = r.dispatch(HttpRequest("GET", "/v1/orgs/demo/agents/1001"))
    assert json.loads(ok.body) == {"org": "demo", "ext": "1001"}
    assert r.dispatch(HttpRequest("DELETE", "/v1/orgs/demo/agents/1001")).status == 405
    assert r.dispatch(HttpRequest("GET", "/v1/orgs/demo")).status == 404


def test_health_names_the_failing_part() -> None:
    def boom() -> bool:
        raise ConnectionError

    ok = health({"redis": lambda: True, "rtpengine": lambda: True})
    assert ok.status == 200
    bad = health({"redis": boom, "rtpengine": lambda: False})
    assert bad.status == 503
    assert json.loads(bad.body)["failing"] == ["redis", "rtpengine"]


def test_token_is_required_and_compared() -> None:
    s = Settings.from_env({"EDGE_API_TOKEN": "secret"})
    assert token_ok(s, HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer secret"}))
    assert not token_ok(s, HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer nope"}))
    assert not token_ok(Settings.from_env({}), HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer "}))
