from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kemi_app.policy.callee import callee_refusal
from kemi_app.policy.transfer import (
    PENDING_SECONDS,
    Progress,
    counts_as_transfer,
    edge_refer_to,
    notify_progress,
    parse_refer_to,
    progress_now,
    sipfrag_status,
    token_of,
)


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


def test_an_agent_or_the_api_transfers_an_ivr_only_routes() -> None:
    assert counts_as_transfer("3001") and counts_as_transfer("30012") and counts_as_transfer("api")
    assert not counts_as_transfer("900")  # an IVR service sending the caller to a queue
    assert not counts_as_transfer("ivr")  # the org's overflow IVR, by the user its REFER names


def test_sipfrag_says_how_the_new_call_went() -> None:
    assert sipfrag_status("SIP/2.0 200 OK\r\n") == 200
    assert sipfrag_status("SIP/2.0 486 Busy Here") == 486
    assert sipfrag_status("") == sipfrag_status("garbage here") == sipfrag_status("SIP/2.0 2000 x") == 0
    assert [notify_progress(s) for s in (0, 100, 180, 200, 202, 300, 486, 603)] == [
        Progress.PENDING, Progress.PENDING, Progress.PENDING, Progress.SUCCEEDED, Progress.SUCCEEDED,
        Progress.FAILED, Progress.FAILED, Progress.FAILED]


def test_a_transfer_nobody_reports_on_fails_when_its_token_expires() -> None:
    assert progress_now(Progress.PENDING, 1000.0, 1000.0 + PENDING_SECONDS) is Progress.PENDING
    assert progress_now(Progress.PENDING, 1000.0, 1001.0 + PENDING_SECONDS) is Progress.FAILED
    assert progress_now(Progress.SUCCEEDED, 1000.0, 1e9) is Progress.SUCCEEDED


def test_a_transfer_to_an_agent_follows_the_direct_call_rule() -> None:
    assert callee_refusal(exists=False, dnd=False, registered=True) is not None
    assert callee_refusal(True, True, True) is not None and callee_refusal(True, True, True).status == 486
    assert callee_refusal(True, False, False) is not None and callee_refusal(True, False, False).status == 480
    assert callee_refusal(True, False, True) is None

