"""The agent API on the WebSocket listener: HTTP Digest with the agent's own SIP credentials
(a standard client, urllib's, does the digest), never the admin token."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kemi_app.policy import http_digest
from kemi_app.policy.digest import ha1
from kemi_app.state import keys
from tests.conftest import API_TOKEN
from tests.integration.api_client import api
from tests.integration.helpers import DEMO, register
from tests.sipp import Sipp
from tests.state_kit import drop_bindings

COMPANY = "agentapi"
AGENT, PASSWORD = "1501", "agent-1501-pw"
PAUSE_TYPES = [{"code": "1", "name": "Lunch", "blocks_calls": False}, {"code": "2", "name": "Break"}]


@pytest.fixture(scope="module")
def agent(edge) -> Iterator[None]:
    body = {"name": "Agent API Co", "block_calls_during_pause": True, "pause_types": PAUSE_TYPES}
    assert api(edge, "PUT", f"/v1/orgs/demo/companies/{COMPANY}", body)[0] in (200, 201)
    body = {"password": PASSWORD, "company": COMPANY}
    assert api(edge, "PUT", f"/v1/orgs/demo/agents/{AGENT}", body)[0] in (200, 201)
    yield
    api(edge, "DELETE", f"/v1/orgs/demo/agents/{AGENT}?force=true")
    api(edge, "DELETE", f"/v1/orgs/demo/companies/{COMPANY}")


def base(edge) -> str:
    return f"http://127.0.0.1:{edge.settings.ws_port}/agent/v1"


def opener(edge, user: str = AGENT, password: str = PASSWORD) -> urllib.request.OpenerDirector:
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, base(edge), user, password)
    return urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords))


def call(edge, method: str, path: str, body: object = None, client: urllib.request.OpenerDirector | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base(edge)}{path}", data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with (client or opener(edge)).open(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def test_state_from_login_on(edge, sipp: Sipp, state, agent) -> None:
    drop_bindings(state, "demo", AGENT)
    code, body, headers = call(edge, "GET", "/state?domain=demo.test")
    assert code == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert body["state"] == "offline" and body["session"] is None
    assert [t["name"] for t in body["pause_types"]] == ["Lunch", "Break"]
    assert register(sipp, AGENT, sipp.next_port(), password=PASSWORD).ok
    code, body, _ = call(edge, "GET", "/state?domain=demo.test")
    assert body["state"] == "available" and body["status"] == "available"
    assert body["session"]["block_calls_during_pause"] is True
    assert 0 <= body["now"] - body["session"]["started_at"] < 30
    assert body["seconds_in_state"] is not None


def test_pause_with_the_company_s_pause_types_then_unpause(edge, agent) -> None:
    code, body, _ = call(edge, "PUT", "/status?domain=demo.test", {"status": "paused", "pause": "Lunch"})
    assert code == 200, body
    assert (body["status"], body["pause"], body["pause_blocks"]) == ("paused", "Lunch", False)
    assert api(edge, "GET", f"/v1/orgs/demo/agents/{AGENT}/status")[1]["pause"] == "Lunch"
    code, body, _ = call(edge, "PUT", "/status?domain=demo.test", {"status": "paused", "pause": "Coffee"})
    assert code == 400 and body["field"] == "pause" and "Lunch, Break" in body["error"]
    code, body, _ = call(edge, "PUT", "/status?domain=demo.test", {"status": "available"})
    assert (code, body["status"], body["pause"]) == (200, "available", None)


def test_dnd_and_auto_answer_for_the_session(edge, sipp: Sipp, agent) -> None:
    code, body, _ = call(edge, "PUT", "/dnd?domain=demo.test", {"dnd": True})
    assert (code, body["dnd"]) == (200, True)
    code, body, _ = call(edge, "PUT", "/dnd?domain=demo.test", {"dnd": "yes"})
    assert code == 400 and body["field"] == "dnd"
    call(edge, "PUT", "/dnd?domain=demo.test", {"dnd": False})
    assert register(sipp, AGENT, sipp.next_port(), password=PASSWORD).ok
    code, body, _ = call(edge, "PUT", "/auto-answer?domain=demo.test", {"auto_answer": True})
    assert (code, body["auto_answer"]) == (200, True)


def test_no_credentials_gets_a_digest_challenge_in_the_org_s_realm(edge, agent) -> None:
    code, body, headers = call(edge, "GET", "/state?domain=demo.test", client=urllib.request.build_opener())
    assert code == 401 and body["field"] == "Authorization"
    assert headers["WWW-Authenticate"].startswith(f'Digest realm="{DEMO}", nonce="')
    code, body, _ = call(edge, "GET", "/state", client=urllib.request.build_opener())
    assert code == 401 and body["field"] == "domain"


def challenge_nonce(edge) -> str:
    _, _, headers = call(edge, "GET", "/state?domain=demo.test", client=urllib.request.build_opener())
    return http_digest.credential_params(headers["WWW-Authenticate"].partition(" ")[2])["nonce"]


def authorization(nonce: str, uri: str, password: str = PASSWORD, method: str = "GET") -> dict[str, str]:
    """One Authorization header, computed here (no client retrying on its own)."""
    cnonce = secrets.token_hex(4)
    creds = http_digest.Credentials(AGENT, DEMO, nonce, uri, "", "00000001", cnonce)
    response = http_digest.expected_response(ha1(AGENT, DEMO, password), method, creds)
    return {"Authorization": f'Digest username="{AGENT}", realm="{DEMO}", nonce="{nonce}", uri="{uri}", '
                             f'response="{response}", qop=auth, nc=00000001, cnonce="{cnonce}", algorithm=MD5'}


def test_wrong_password_and_the_admin_token_are_refused(edge, state, agent) -> None:
    plain = urllib.request.build_opener()
    try:
        wrong = authorization(challenge_nonce(edge), "/agent/v1/state", password="not-the-password")
        code, body, headers = call(edge, "GET", "/state", client=plain, headers=wrong)
        assert code == 401 and "WWW-Authenticate" in headers
        assert state.r.get(keys.authfail("demo", AGENT, "127.0.0.1")) == "1"  # counts toward the lockout
    finally:
        state.r.delete(keys.authfail("demo", AGENT, "127.0.0.1"))
    code, body, _ = call(edge, "GET", "/state?domain=demo.test", client=plain,
                         headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert code == 401


def test_a_replayed_authorization_is_refused(edge, agent) -> None:
    plain = urllib.request.build_opener()
    once = authorization(challenge_nonce(edge), "/agent/v1/state")
    first = call(edge, "GET", "/state", client=plain, headers=once)
    again = call(edge, "GET", "/state", client=plain, headers=once)
    assert first[0] == 200, first
    assert again[0] == 401 and "stale=true" in again[2]["WWW-Authenticate"]


def test_the_digest_must_cover_this_request(edge, agent) -> None:
    other_uri = authorization(challenge_nonce(edge), "/agent/v1/state?domain=x")
    code, body, _ = call(edge, "GET", "/state", client=urllib.request.build_opener(), headers=other_uri)
    assert code == 400 and body["field"] == "Authorization"


def test_unknown_resources_and_methods(edge, agent) -> None:
    assert call(edge, "GET", "/nothing")[0] == 404
    assert call(edge, "POST", "/state?domain=demo.test", {"x": 1})[0] == 405
