from __future__ import annotations

import json

import pytest

from kemi_app.admin.app import token_ok
from kemi_app.admin.calls_api import transfer_answer
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, Router, json_response
from kemi_app.policy.interorg import REASONS, Outcome, Rule, TransferRequest, Verdict
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


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (TransferRequest(Outcome.STARTED, "a", "dest", Verdict(True, None, "sip:ivr@x")), 202),
        (TransferRequest(Outcome.REFUSED, "a", "dest", Verdict(False, Rule.NOT_LINKED)), 403),
        (TransferRequest(Outcome.NO_ATTENDANCE, "a", "dest"), 404),
        (TransferRequest(Outcome.NO_ORG, "a", "dest"), 404),
        (TransferRequest(Outcome.NO_CALL, "a", "dest"), 409),
        (TransferRequest(Outcome.UNAVAILABLE, "a", "dest"), 503),
    ],
)
def test_api_answer_for_each_transfer_outcome(request_: TransferRequest, status: int) -> None:
    answer = transfer_answer(request_)
    body = json.loads(answer.body)
    assert answer.status == status
    if status == 403:
        assert body == {"error": REASONS[Rule.NOT_LINKED], "rule": Rule.NOT_LINKED.value}
    if status == 202:
        assert body["target"] == "sip:ivr@x" and body["status"] == "transferring"
    if request_.outcome is Outcome.NO_ORG:
        assert body["field"] == "org"
