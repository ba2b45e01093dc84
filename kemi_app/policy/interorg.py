"""May this call be transferred to another organisation's IVR?"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Rule(str, Enum):
    SOURCE_DISABLED = "source-org-disabled"
    NOT_LINKED = "destination-not-linked"
    UNKNOWN_DESTINATION = "unknown-destination"
    NO_IVR = "destination-has-no-ivr"
    NOT_INBOUND = "not-inbound"
    NOT_FROM_QUEUE = "not-from-queue"
    DIRECT_EXTENSION = "direct-extension-call"
    ALREADY_TRANSFERRED = "already-transferred"


REASONS = {
    Rule.SOURCE_DISABLED: "Inter-org Transfer Disabled For Source Org",
    Rule.NOT_LINKED: "Destination Org Not Linked",
    Rule.UNKNOWN_DESTINATION: "Unknown Destination Org",
    Rule.NO_IVR: "Destination Org Has No IVR",
    Rule.NOT_INBOUND: "Only Inbound Calls Can Be Transferred Between Orgs",
    Rule.NOT_FROM_QUEUE: "Only Calls That Entered Through A Queue Can Be Transferred Between Orgs",
    Rule.DIRECT_EXTENSION: "Direct Extension Calls Cannot Be Transferred Between Orgs",
    Rule.ALREADY_TRANSFERRED: "Call Already Transferred",
}


@dataclass(frozen=True)
class OrgFacts:
    id: str
    interorg_transfer_enabled: bool
    linked_orgs: frozenset[str]
    ivr_uri: str


@dataclass(frozen=True)
class CallFacts:
    direction: str  # inbound | outbound | internal
    origin: str  # queue | direct | outbound | transfer
    entered_through_queue: bool  # set when the call enters a queue, even after an IVR sent it there
    interorg_transferred: bool
    transferred: bool = False  # any earlier transfer by an agent, inside the org too


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: Rule | None = None
    target_uri: str = ""

    @property
    def reason(self) -> str:
        return REASONS[self.rule] if self.rule else "OK"


class Outcome(str, Enum):
    """What became of an inter-org transfer asked for from outside the call (the API)."""

    STARTED = "started"
    NO_ATTENDANCE = "no-attendance"
    NO_ORG = "no-org"
    REFUSED = "refused"
    NO_CALL = "no-call-in-progress"
    UNAVAILABLE = "unavailable"  # asked where no SIP process can act on calls


@dataclass(frozen=True)
class TransferRequest:
    outcome: Outcome
    attendance: str
    org: str
    verdict: Verdict | None = None  # the refusal, or the allowed transfer and its target


def decide(source: OrgFacts, destination: OrgFacts | None, call: CallFacts) -> Verdict:
    """All three conditions are required: source enabled, destination linked, call eligible
    (inbound, entered through a queue at some point, never transferred before)."""
    if not source.interorg_transfer_enabled:
        return Verdict(False, Rule.SOURCE_DISABLED)
    if destination is None:
        return Verdict(False, Rule.UNKNOWN_DESTINATION)
    if destination.id not in source.linked_orgs:
        return Verdict(False, Rule.NOT_LINKED)
    if call.direction != "inbound":
        return Verdict(False, Rule.NOT_INBOUND)
    if not call.entered_through_queue:
        # A call that reached a queue later (DID -> IVR -> queue) is as eligible as one
        # dialled to the queue's DID; one that never did names why.
        return Verdict(False, Rule.DIRECT_EXTENSION if call.origin == "direct" else Rule.NOT_FROM_QUEUE)
    if call.interorg_transferred or call.transferred:
        return Verdict(False, Rule.ALREADY_TRANSFERRED)
    if not destination.ivr_uri:
        return Verdict(False, Rule.NO_IVR)
    return Verdict(True, None, destination.ivr_uri)
