"""Signed Record-Route tokens and nonce uses (policy.dialog_token, policy.digest)."""

from __future__ import annotations

from kemi_app.policy import dialog_token
from kemi_app.policy.digest import credential_params, nonce_use

SECRET = "s" * 32
NOW = 1_700_000_000.0


def _route(params: str) -> str:
    return f"<sip:127.0.0.1:5060;lr=on;ftag=abc{params}>"


def test_a_route_the_edge_signed_is_valid_for_its_call_id_only() -> None:
    params = dialog_token.record_route_params(SECRET, "call-1", NOW)
    assert dialog_token.valid(SECRET, "call-1", _route(params), NOW + 60)
    assert not dialog_token.valid(SECRET, "call-2", _route(params), NOW + 60)
    assert not dialog_token.valid("other-secret" * 3, "call-1", _route(params), NOW + 60)


def test_unsigned_forged_or_expired_routes_are_refused() -> None:
    params = dialog_token.record_route_params(SECRET, "call-1", NOW)
    assert not dialog_token.valid(SECRET, "call-1", _route(""), NOW)
    assert not dialog_token.valid(SECRET, "call-1", _route(";ee=4102444800;es=0123456789abcdef0123"), NOW)
    assert not dialog_token.valid(SECRET, "call-1", _route(params), NOW + dialog_token.LIFETIME + 1)
    assert not dialog_token.valid(SECRET, "", _route(params), NOW)
    later = params.replace(f"ee={int(NOW) + dialog_token.LIFETIME}", f"ee={int(NOW) + 2 * dialog_token.LIFETIME}")
    assert not dialog_token.valid(SECRET, "call-1", _route(later), NOW)


def test_uri_params_of_bracketed_and_bare_uris() -> None:
    assert dialog_token.uri_params("<sip:h:1;lr;ES=x?h=1>") == {"lr": "", "es": "x"}
    assert dialog_token.uri_params("sip:h;a=1") == {"a": "1"}


HEADER = ('Digest username="1001", realm="demo.test", nonce="n1", uri="sip:demo.test", '
          'response="r", algorithm=MD5, cnonce="c1", qop=auth, nc=00000001')


def test_credential_params() -> None:
    p = credential_params(HEADER)
    assert (p["username"], p["nonce"], p["nc"], p["qop"]) == ("1001", "n1", "00000001", "auth")


def test_a_nonce_use_is_the_same_for_a_replay_and_new_for_the_next_request() -> None:
    assert nonce_use(HEADER) == nonce_use(HEADER)
    assert nonce_use(HEADER) != nonce_use(HEADER.replace("nc=00000001", "nc=00000002"))
    assert nonce_use(HEADER) != nonce_use(HEADER.replace('cnonce="c1"', 'cnonce="c2"'))
    assert nonce_use(HEADER) != nonce_use(HEADER.replace('username="1001"', 'username="1002"'))
    assert nonce_use('Digest username="1001"') == ""
