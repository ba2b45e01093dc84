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
    for enabled, linked, direction, origin, via_queue, done in itertools.product(
        (True, False), (True, False), ("inbound", "outbound", "internal"),
        ("queue", "direct", "outbound", "transfer"), (True, False), (True, False),
    ):
        source = OrgFacts("demo", enabled, frozenset({"acme"} if linked else set()), "")
        call = CallFacts(direction, origin, via_queue, done)
        expected = enabled and linked and direction == "inbound" and origin != "direct" and via_queue and not done
        assert decide(source, DEST, call).allowed is expected

