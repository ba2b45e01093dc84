from __future__ import annotations

import json

import pytest

from kemi_app.admin.api import MAX_BODY, body_json, guarded
from kemi_app.admin.app import token_ok
from kemi_app.admin.calls_api import transfer_answer
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, Router, json_response, unsupported_media
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
    starting = health({"redis": lambda: True, "rtpengine": lambda: True}, started=False)
    assert starting.status == 503
    assert json.loads(starting.body)["components"]["kamailio"] == "starting"


def test_token_is_required_and_compared() -> None:
    s = Settings.from_env({"EDGE_API_TOKEN": "secret"})
    assert token_ok(s, HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer secret"}))
    assert not token_ok(s, HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer nope"}))
    assert not token_ok(Settings.from_env({}), HttpRequest("GET", "/v1/x", headers={"authorization": "Bearer "}))


def parsed(body: str) -> tuple[int, dict]:
    """What a write handler answers for `body` (after the token check)."""
    handler = guarded(lambda req, p: json_response(200, {"body": body_json(req)}))
    resp = handler(HttpRequest("PUT", "/v1/x", body=body), {})
    return resp.status, json.loads(resp.body)


def test_bad_bodies_get_4xx_naming_the_problem() -> None:
    assert parsed('{"a": [1]}') == (200, {"body": {"a": [1]}})
    status, body = parsed("[" * 5000 + "]" * 5000)
    assert status == 400 and body == {"error": "JSON nested too deeply", "field": "body"}
    status, body = parsed('{"name": "\udcff"}')  # an undecodable byte kept as a surrogate
    assert status == 400 and body == {"error": "not valid UTF-8", "field": "body"}
    status, body = parsed('{"name": "' + "x" * MAX_BODY + '"}')
    assert status == 413 and body["field"] == "body"
    assert parsed("{")[0] == 400


def test_writes_with_a_body_must_be_json() -> None:
    def req(method: str, ctype: str | None, body: str = "{}") -> HttpRequest:
        return HttpRequest(method, "/v1/x", headers={"content-type": ctype} if ctype else {}, body=body)

    assert unsupported_media(req("PUT", "application/json")) is None
    assert unsupported_media(req("POST", "Application/JSON; charset=utf-8")) is None
    assert unsupported_media(req("PUT", None, body="")) is None  # nothing to parse
    assert unsupported_media(req("GET", None)) is None
    refused = unsupported_media(req("PUT", "text/plain"))
    assert refused is not None and refused.status == 415
    assert json.loads(refused.body)["field"] == "Content-Type"
    missing = unsupported_media(req("POST", None))
    assert missing is not None and missing.status == 415


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
