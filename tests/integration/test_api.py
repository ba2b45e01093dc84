"""The /v1 provisioning API over real HTTP against Kamailio's xhttp and Redis."""

from __future__ import annotations

import threading

import pytest

from kemi_app.policy.digest import ha1
from tests.integration.api_client import api


def test_api_needs_the_bearer_token(edge) -> None:
    assert api(edge, "GET", "/v1/orgs", token=None)[0] == 401
    status, body = api(edge, "GET", "/v1/orgs", token="wrong")
    assert status == 401 and body["field"] == "Authorization"
    assert api(edge, "GET", "/v1/orgs")[0] == 200


def test_openapi_document_lists_every_route(edge) -> None:
    status, doc = api(edge, "GET", "/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "put" in doc["paths"]["/v1/orgs/{org}/agents/{ext}"]
    assert doc["paths"]["/v1/orgs/{org}/agents/{ext}/status"]["put"]["requestBody"]


def test_org_company_agent_lifecycle(edge, state) -> None:
    assert api(edge, "PUT", "/v1/orgs/life", {"domain": "life.test", "name": "Life"})[0] == 201
    assert api(edge, "PUT", "/v1/orgs/life", {"domain": "life.test", "name": "Life 2"})[0] == 200
    status, company = api(edge, "PUT", "/v1/orgs/life/companies/c1", {"block_calls_during_pause": True})
    assert status == 201
    assert company["allowed_country_codes"] == ["55"] and company["emergency_numbers"] == ["190", "192", "193"]
    status, agent = api(edge, "PUT", "/v1/orgs/life/agents/2001", {"password": "secret-2001", "company": "c1"})
    assert status == 201 and "ha1" not in agent and "password" not in agent
    assert state.registrations.register_view("life", "2001", "127.0.0.1").auth.ha1 == ha1("2001", "life.test",
                                                                                          "secret-2001")
    # An update without password keeps the HA1.
    assert api(edge, "PUT", "/v1/orgs/life/agents/2001", {"company": "c1", "display_name": "Ann"})[0] == 200
    assert state.registrations.register_view("life", "2001", "127.0.0.1").auth.ha1 == ha1("2001", "life.test",
                                                                                          "secret-2001")
    assert [a["ext"] for a in api(edge, "GET", "/v1/orgs/life/agents")[1]] == ["2001"]
    # A company with agents cannot go; the domain cannot change under the agents' HA1.
    assert api(edge, "DELETE", "/v1/orgs/life/companies/c1")[0] == 409
    assert api(edge, "PUT", "/v1/orgs/life", {"domain": "other.test"})[0] == 409
    assert api(edge, "DELETE", "/v1/orgs/life/agents/2001")[0] == 200
    assert api(edge, "GET", "/v1/orgs/life/agents/2001")[0] == 404
    assert api(edge, "DELETE", "/v1/orgs/life")[0] == 200
    assert api(edge, "GET", "/v1/orgs/life")[0] == 404
    assert state.r.get("edge:domain:life.test") is None
    assert not state.r.keys("edge:*:life:*") and state.r.keys("edge:*:life") == ["edge:version:life"]


def _lasting_keys(state) -> list[str]:
    """Keys without a TTL: provisioning writes. Keys other tests left with a TTL (connections,
    nonces) may expire meanwhile."""
    return sorted(k for k in state.r.keys("edge:*") if state.r.ttl(k) == -1)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/orgs/v1org", {"domain": "not a domain"}, "domain"),
        ("/v1/orgs/v1org", {"domain": "ok.test", "ivr_uri": "http://x"}, "ivr_uri"),
        ("/v1/orgs/v1org", {"domain": "ok.test", "colour": "red"}, "colour"),
        ("/v1/orgs/Bad_Id", {"domain": "ok.test"}, "id"),
        ("/v1/orgs/demo/companies/c", {"allowed_country_codes": ["055"]}, "allowed_country_codes[0]"),
        ("/v1/orgs/demo/companies/c", {"block_calls_during_pause": "yes"}, "block_calls_during_pause"),
        ("/v1/orgs/demo/companies/c", {"emergency_numbers": ["1a"]}, "emergency_numbers[0]"),
        ("/v1/orgs/demo/agents/123", {"password": "long-enough"}, "ext"),
        ("/v1/orgs/demo/agents/123456", {"password": "long-enough"}, "ext"),
        ("/v1/orgs/demo/agents/4001", {}, "password"),
        ("/v1/orgs/demo/agents/4001", {"password": "short"}, "password"),
        ("/v1/orgs/demo/agents/4001", {"password": "long-enough", "company": "nope"}, "company"),
        ("/v1/orgs/demo/services/30", {"kind": "ivr", "target_uri": "sip:ivr@127.0.0.1"}, "ext"),
        ("/v1/orgs/demo/services/301", {"kind": "bar"}, "kind"),
        ("/v1/orgs/demo/services/301", {"kind": "ivr"}, "target_uri"),
        ("/v1/orgs/demo/services/301", {"kind": "queue", "members": ["12"]}, "members[0]"),
        ("/v1/gateways/gw", {"address": "not-an-address"}, "address"),
        ("/v1/gateways/gw", {"address": "sip:127.0.0.1:5060", "codecs": ["MP3"]}, "codecs[0]"),
        ("/v1/gateways/gw", {"address": "sip:127.0.0.1:5060", "priority": -1}, "priority"),
        ("/v1/dids/5511", {"org": "demo", "service": "300"}, "number"),
        ("/v1/dids/+551130000000", {"org": "demo", "service": "999"}, "service"),
        ("/v1/orgs/demo/agents/1001/status", {"status": "paused"}, "pause"),
        ("/v1/orgs/demo/agents/1001/status", {"status": "paused", "pause": "a\r\nb"}, "pause"),
        ("/v1/orgs/demo/agents/1001/status", {"status": "away"}, "status"),
        ("/v1/orgs/demo/agents/1001/dnd", {"dnd": "on"}, "dnd"),
    ],
)
def test_bad_values_get_400_naming_the_field(edge, state, path: str, body: dict, field: str) -> None:
    before = _lasting_keys(state)
    status, answer = api(edge, "PUT", path, body)
    assert (status, answer["field"]) == (400, field), answer
    assert _lasting_keys(state) == before  # nothing half-written


def test_invalid_json_body_is_400(edge) -> None:
    status, body = api(edge, "PUT", "/v1/orgs/x", raw=b"{not json")
    assert status == 400 and body["field"] == "body"


def test_unknown_paths_and_methods(edge) -> None:
    assert api(edge, "GET", "/v1/nothing")[0] == 404
    assert api(edge, "POST", "/v1/orgs")[0] == 405
    assert api(edge, "GET", "/v1/orgs/ghost/agents")[0] == 404
    assert api(edge, "PUT", "/v1/orgs/ghost/companies/c", {})[0] == 404


def test_gateways_listed_in_priority_order_and_dids(edge, state) -> None:
    assert api(edge, "PUT", "/v1/gateways/zz-b", {"address": "127.0.0.1:5999", "priority": 5})[0] == 201
    assert api(edge, "PUT", "/v1/gateways/zz-a", {"address": "sip:127.0.0.1:5998", "priority": 50})[0] == 201
    ids = [g["id"] for g in api(edge, "GET", "/v1/gateways")[1]]
    assert ids.index("zz-b") < ids.index("zz-a")
    assert api(edge, "GET", "/v1/gateways/zz-b")[1]["address"] == "sip:127.0.0.1:5999"
    assert api(edge, "PUT", "/v1/orgs/demo/services/399", {"kind": "queue", "members": ["1001"]})[0] == 201
    assert api(edge, "PUT", "/v1/dids/+551133334444", {"org": "demo", "service": "399"})[0] == 201
    assert api(edge, "GET", "/v1/dids/%2B551133334444")[1] == {"number": "+551133334444", "org": "demo",
                                                             "service": "399"}
    assert api(edge, "DELETE", "/v1/orgs/demo/services/399")[0] == 409  # a DID lands on it
    for path in ("/v1/dids/+551133334444", "/v1/orgs/demo/services/399", "/v1/gateways/zz-a", "/v1/gateways/zz-b"):
        assert api(edge, "DELETE", path)[0] == 200


def test_org_links(edge) -> None:
    assert api(edge, "PUT", "/v1/orgs/linka", {"domain": "linka.test"})[0] == 201
    assert api(edge, "PUT", "/v1/orgs/demo/links/linka")[0] == 201
    assert api(edge, "GET", "/v1/orgs/demo/links")[1] == ["linka"]
    status, body = api(edge, "PUT", "/v1/orgs/demo/links/ghost")
    assert status == 400 and body["field"] == "target"
    assert api(edge, "DELETE", "/v1/orgs/linka")[0] == 200
    assert api(edge, "GET", "/v1/orgs/demo/links")[1] == []  # deleting an org removes links to it


def test_concurrent_writers_never_leave_a_mixed_record(edge, state) -> None:
    """Many clients replace the same company at once: the stored record is always exactly one
    of the bodies sent, never a mix of fields from several."""
    bodies = [{"name": f"n{i}", "default_country": str(10 + i), "allowed_country_codes": [str(10 + i)]}
              for i in range(8)]
    errors: list[object] = []

    def writer(body: dict) -> None:
        for _ in range(5):
            status, answer = api(edge, "PUT", "/v1/orgs/demo/companies/race", body)
            if status not in (200, 201):
                errors.append(answer)

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = api(edge, "GET", "/v1/orgs/demo/companies/race")[1]
    assert stored["allowed_country_codes"] == [stored["default_country"]]
    assert stored["name"] == f"n{int(stored['default_country']) - 10}"
    assert api(edge, "DELETE", "/v1/orgs/demo/companies/race")[0] == 200
