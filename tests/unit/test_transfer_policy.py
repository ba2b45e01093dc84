from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.transfer import edge_refer_to, parse_refer_to, token_of


def test_blind_refer_to_agent() -> None:
    target = parse_refer_to("<sip:1002@demo.test>")
    assert target is not None and (target.user, target.host, target.kind) == ("1002", "demo.test", "blind")


def test_attended_refer_to_carries_unescaped_replaces() -> None:
    target = parse_refer_to('"B" <sip:1002@Demo.Test:5060;transport=udp?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>')
    assert target is not None
    assert (target.host, target.kind, target.replaces) == ("demo.test", "attended", "abc@h;to-tag=1;from-tag=2")


def test_other_org_and_bare_uri() -> None:
    target = parse_refer_to("sip:ivr@acme.test")
    assert target is not None and (target.user, target.host) == ("ivr", "acme.test")


def test_unusable_refer_to() -> None:
    for bad in ("", "<tel:+551199>", "<sip:demo.test>", "garbage", "<sip:@demo.test>"):
        assert parse_refer_to(bad) is None


@given(st.from_regex(r"[0-9a-f]{16}", fullmatch=True), st.from_regex(r"[0-9]{3,5}", fullmatch=True))
def test_token_round_trip(token: str, user: str) -> None:
    uri = edge_refer_to(user, "127.0.0.1:5060", token).strip("<>")
    assert token_of(uri) == token
    assert token_of(uri + ";transport=udp") == token


def test_malformed_tokens_are_ignored() -> None:
    assert token_of("sip:1002@h;xfer=zz") == ""
    assert token_of("sip:1002@h") == ""
    assert token_of("sip:1002@h;xfer=" + "a" * 17) == ""
