from __future__ import annotations

from dataclasses import replace

from kemi_app.policy.contacts import Contact
from kemi_app.policy.registration import (
    DEFAULT_EXPIRES,
    MAX_BINDINGS,
    MAX_EXPIRES,
    MIN_EXPIRES,
    RegisterRequest,
    apply_register,
)

NOW = 1_000_000.0


def req(*contacts: Contact, expires: int | None = None, call_id: str = "c1", cseq: int = 1,
        wildcard: bool = False, now: float = NOW) -> RegisterRequest:
    return RegisterRequest(
        wildcard=wildcard, contacts=list(contacts), expires_header=expires, call_id=call_id, cseq=cseq,
        received="sip:1.2.3.4:5000;transport=udp", socket="udp:127.0.0.1:5060", node="sip:127.0.0.1:5060",
        user_agent="t", conn_id=0, now=now,
    )


def test_new_binding_uses_header_expires_then_default() -> None:
    out = apply_register([], req(Contact("sip:a@h"), expires=120))
    assert out.ok and out.bindings[0].expires_at == NOW + 120
    out = apply_register([], req(Contact("sip:a@h")))
    assert out.bindings[0].expires_at == NOW + DEFAULT_EXPIRES


def test_contact_param_beats_header_and_is_capped() -> None:
    out = apply_register([], req(Contact("sip:a@h", {"expires": "99999"}), expires=120))
    assert out.bindings[0].expires_at == NOW + MAX_EXPIRES


def test_zero_removes_only_that_contact() -> None:
    first = apply_register([], req(Contact("sip:a@h"), Contact("sip:b@h"))).bindings
    out = apply_register(first, req(Contact("sip:a@h"), expires=0, cseq=2))
    assert [b.contact for b in out.bindings] == ["sip:b@h"]


def test_wildcard_needs_expires_zero() -> None:
    first = apply_register([], req(Contact("sip:a@h"))).bindings
    assert apply_register(first, req(wildcard=True, expires=0, cseq=2)).bindings == []
    refused = apply_register(first, req(wildcard=True, expires=60, cseq=2))
    assert refused.status == 400 and refused.bindings == first


def test_too_brief_is_423_with_min_expires_and_changes_nothing() -> None:
    out = apply_register([], req(Contact("sip:a@h"), expires=MIN_EXPIRES - 1))
    assert (out.status, out.min_expires, out.bindings) == (423, MIN_EXPIRES, [])


def test_out_of_order_cseq_on_same_call_id_is_refused() -> None:
    first = apply_register([], req(Contact("sip:a@h"), cseq=5)).bindings
    assert apply_register(first, req(Contact("sip:a@h"), cseq=4)).status == 500
    assert apply_register(first, req(Contact("sip:a@h"), cseq=5)).ok  # a retransmission
    assert apply_register(first, req(Contact("sip:a@h"), cseq=1, call_id="other")).ok


def test_expired_bindings_are_dropped() -> None:
    first = apply_register([], req(Contact("sip:a@h"), expires=60)).bindings
    later = apply_register(first, req(Contact("sip:b@h"), now=NOW + 61, call_id="c2"))
    assert [b.contact for b in later.bindings] == ["sip:b@h"]


def test_binding_count_is_capped_keeping_the_freshest() -> None:
    bindings = []
    for i in range(MAX_BINDINGS + 3):
        bindings = apply_register(bindings, req(Contact(f"sip:{i}@h"), call_id=f"c{i}", now=NOW + i)).bindings
    assert len(bindings) == MAX_BINDINGS
    assert "sip:0@h" not in {b.contact for b in bindings}


def test_refresh_keeps_source_of_latest_register() -> None:
    first = apply_register([], req(Contact("sip:a@h"))).bindings
    moved = replace(req(Contact("sip:a@h"), cseq=2), received="sip:5.6.7.8:9;transport=tcp")
    assert apply_register(first, moved).bindings[0].received == "sip:5.6.7.8:9;transport=tcp"
