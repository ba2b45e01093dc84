"""HTTP Digest for the agent API: stateless nonces and the response check."""

from __future__ import annotations

import pytest

from kemi_app.policy.digest import ha1
from kemi_app.policy.http_digest import (
    NONCE_LIFETIME,
    NonceCheck,
    challenge,
    check_nonce,
    make_nonce,
    parse_credentials,
    response_ok,
)

SECRET = "s3cret"
NOW = 1_700_000_000.0


def test_a_fresh_nonce_is_valid_for_its_realm_only_until_it_expires() -> None:
    nonce = make_nonce(SECRET, "demo.test", NOW, "a1b2")
    assert check_nonce(SECRET, "demo.test", nonce, NOW + NONCE_LIFETIME) is NonceCheck.VALID
    assert check_nonce(SECRET, "demo.test", nonce, NOW + NONCE_LIFETIME + 1) is NonceCheck.STALE
    assert check_nonce(SECRET, "other.test", nonce, NOW) is NonceCheck.INVALID
    assert check_nonce("other-secret", "demo.test", nonce, NOW) is NonceCheck.INVALID
    assert make_nonce(SECRET, "demo.test", NOW, "c3d4") != nonce


@pytest.mark.parametrize("nonce", ["", "abc", "1.2.3", "99999999999999.x.y", "１７.a.b"])
def test_forged_nonces_are_invalid(nonce: str) -> None:
    assert check_nonce(SECRET, "demo.test", nonce, NOW) is NonceCheck.INVALID


def test_a_later_expiry_cannot_be_grafted_onto_a_signature() -> None:
    expires, salt, signature = make_nonce(SECRET, "demo.test", NOW, "a1").split(".")
    assert check_nonce(SECRET, "demo.test", f"{int(expires) + 3600}.{salt}.{signature}", NOW) is NonceCheck.INVALID


# RFC 2617 section 3.5's example: a known answer for the response computation.
RFC_HEADER = ('Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
              'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
              'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"')


def test_the_rfc_example_verifies_with_the_ha1_only() -> None:
    creds = parse_credentials(RFC_HEADER)
    assert creds is not None and creds.username == "Mufasa" and creds.uri == "/dir/index.html"
    secret_ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert response_ok(secret_ha1, "GET", creds)
    assert not response_ok(secret_ha1, "PUT", creds)
    assert not response_ok(ha1("Mufasa", "testrealm@host.com", "wrong"), "GET", creds)


@pytest.mark.parametrize("header", [
    "", "Bearer abc", "Basic TXVmYXNhOkNpcmNsZQ==",
    RFC_HEADER.replace("qop=auth, ", ""),  # RFC 2069 style: no nc/cnonce, replays undetectable
    RFC_HEADER.replace("qop=auth", "qop=auth-int"),
    RFC_HEADER + ", algorithm=SHA-256",
    RFC_HEADER.replace('cnonce="0a4f113b"', 'cnonce=""'),
])
def test_incomplete_or_other_schemes_are_no_credentials(header: str) -> None:
    assert parse_credentials(header) is None


def test_challenge_names_the_realm_and_says_when_stale() -> None:
    assert challenge("demo.test", "n") == 'Digest realm="demo.test", nonce="n", qop="auth", algorithm=MD5'
    assert challenge("demo.test", "n", stale=True).endswith(", stale=true")
