"""Inter-org transfer eligibility, one rule at a time and exhaustively."""

from __future__ import annotations

import itertools

from kemi_app.policy.interorg import CallFacts, OrgFacts, Rule, decide

SOURCE = OrgFacts("demo", True, frozenset({"acme"}), "sip:ivr@demo")
DEST = OrgFacts("acme", True, frozenset(), "sip:ivr@10.1.1.1")
ELIGIBLE = CallFacts(direction="inbound", origin="queue", entered_through_queue=True, interorg_transferred=False)


def test_eligible_call_goes_to_destination_ivr() -> None:
    verdict = decide(SOURCE, DEST, ELIGIBLE)
    assert verdict.allowed and verdict.target_uri == "sip:ivr@10.1.1.1" and verdict.rule is None


def test_each_rule_refuses_alone() -> None:
    cases = {
        Rule.SOURCE_DISABLED: (OrgFacts("demo", False, frozenset({"acme"}), ""), DEST, ELIGIBLE),
        Rule.NOT_LINKED: (OrgFacts("demo", True, frozenset(), ""), DEST, ELIGIBLE),
        Rule.UNKNOWN_DESTINATION: (SOURCE, None, ELIGIBLE),
        Rule.NOT_INBOUND: (SOURCE, DEST, CallFacts("outbound", "outbound", False, False)),
        Rule.DIRECT_EXTENSION: (SOURCE, DEST, CallFacts("inbound", "direct", False, False)),
        Rule.NOT_FROM_QUEUE: (SOURCE, DEST, CallFacts("inbound", "transfer", False, False)),
        Rule.ALREADY_TRANSFERRED: (SOURCE, DEST, CallFacts("inbound", "queue", True, True)),
        Rule.NO_IVR: (SOURCE, OrgFacts("acme", True, frozenset(), ""), ELIGIBLE),
    }
    assert set(cases) == set(Rule)
    for rule, args in cases.items():
        verdict = decide(*args)
        assert (verdict.allowed, verdict.rule) == (False, rule)
        assert verdict.reason and verdict.reason != "OK"


def test_allowed_exactly_when_every_condition_holds() -> None:
    for enabled, linked, direction, origin, via_queue, done, moved in itertools.product(
        (True, False), (True, False), ("inbound", "outbound", "internal"),
        ("queue", "direct", "outbound", "transfer"), (True, False), (True, False), (True, False),
    ):
        source = OrgFacts("demo", enabled, frozenset({"acme"} if linked else set()), "")
        call = CallFacts(direction, origin, via_queue, done, moved)
        expected = enabled and linked and direction == "inbound" and via_queue and not done and not moved
        assert decide(source, DEST, call).allowed is expected


def test_a_transfer_inside_the_org_counts_as_already_transferred() -> None:
    moved = CallFacts("inbound", "queue", entered_through_queue=True, interorg_transferred=False, transferred=True)
    assert decide(SOURCE, DEST, moved).rule is Rule.ALREADY_TRANSFERRED


def test_a_did_call_an_ivr_sent_to_a_queue_is_eligible() -> None:
    # DID -> IVR: origin "direct"; the IVR sends it to a queue: marked as entered through one.
    via_ivr = CallFacts("inbound", "direct", entered_through_queue=True, interorg_transferred=False)
    assert decide(SOURCE, DEST, via_ivr).allowed
    never_queued = CallFacts("inbound", "direct", entered_through_queue=False, interorg_transferred=False)
    assert decide(SOURCE, DEST, never_queued).rule is Rule.DIRECT_EXTENSION

