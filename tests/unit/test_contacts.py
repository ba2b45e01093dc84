from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.contacts import ContactError, parse_contact, parse_contact_headers, split_top_level


def test_angle_bracket_contact_keeps_uri_params_and_header_params_apart() -> None:
    c = parse_contact('"Agent, One" <sip:abc@x.invalid;transport=ws>;expires=600;+sip.instance="<urn:uuid:1>"')
    assert c.uri == "sip:abc@x.invalid;transport=ws"
    assert c.expires == 600
    assert c.params["+sip.instance"] == "<urn:uuid:1>"


def test_bare_contact_params_belong_to_the_header() -> None:
    c = parse_contact("sip:1001@127.0.0.1:5070;expires=0")
    assert c.uri == "sip:1001@127.0.0.1:5070"
    assert c.expires == 0


def test_several_contacts_in_one_header_and_across_headers() -> None:
    wildcard, contacts = parse_contact_headers(["<sip:a@h1>, <sip:b@h2>;expires=5", "sip:c@h3"])
    assert not wildcard
    assert [c.uri for c in contacts] == ["sip:a@h1", "sip:b@h2", "sip:c@h3"]


def test_wildcard() -> None:
    assert parse_contact_headers(["*"]) == (True, [])
    with pytest.raises(ContactError):
        parse_contact_headers(["*, <sip:a@b>"])


@pytest.mark.parametrize("bad", ["<sip:a@b", "<tel:+5511>", '"unclosed <sip:a@b>', "http://x"])
def test_malformed_contacts_are_errors(bad: str) -> None:
    with pytest.raises(ContactError):
        parse_contact_headers([bad])


def test_bad_expires_param_is_an_error() -> None:
    with pytest.raises(ContactError):
        _ = parse_contact("<sip:a@b>;expires=soon").expires


@given(st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=5))
def test_split_never_breaks_inside_brackets(users: list[str]) -> None:
    header = ", ".join(f'"N, {u}" <sip:{u}@h;a=1,2>' for u in users)
    assert len(split_top_level(header, ",")) == len(users)
