"""Signed Record-Route tokens and nonce uses (policy.dialog_token, policy.digest)."""

from __future__ import annotations

import base64

from kemi_app.policy import dialog_token
from kemi_app.policy.digest import credential_params, issued_nonce, nonce_use

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


def _answer(nonce: str, response: str = "0123456789abcdef" * 2) -> str:
    return HEADER.replace('nonce="n1"', f'nonce="{nonce}"').replace('response="r"', f'response="{response}"')


def test_a_nonce_shaped_like_kamailios_and_unexpired_was_issued_by_some_node() -> None:
    """Expiry, issue time, MD5s: what another node's (or an earlier run's) nonce looks like."""
    nonce = base64.b64encode(int(NOW + 300).to_bytes(4, "big") + int(NOW).to_bytes(4, "big") + bytes(37)).decode()
    assert issued_nonce(_answer(nonce), NOW)
    assert not issued_nonce(_answer(nonce), NOW + 301)  # expired
    assert not issued_nonce(_answer(nonce, response="r"), NOW)  # no digest response to check
    assert not issued_nonce(_answer(nonce[:20]), NOW)  # too short for its MD5
    assert not issued_nonce(_answer("not*base64"), NOW)
    assert not issued_nonce('Digest username="1001"', NOW)
