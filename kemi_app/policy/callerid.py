"""Who a call says it is from: the identity carriers see on outbound calls, the masked
customer number agents see on calls they receive, and which headers never leave toward a
carrier. Pure functions over plain data only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kemi_app.policy.sip_text import quoted_string
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.service import Service

ANONYMOUS_URI = "sip:anonymous@anonymous.invalid"  # RFC 3323 section 4.1.1.3
ANONYMOUS_DISPLAY = '"Anonymous"'
MASK_CHAR = "*"
# An agent's phone asks for a queue's DID with this header naming the queue's extension.
CALLER_ID_HEADER = "X-Edge-Caller-Id"
NOT_ALLOWED = (403, "Caller ID Not Allowed")

# Headers an agent's phone (or the edge itself) writes that say something about the inside:
# extensions, phone models and versions, internal routing marks, identities the carrier must
# only learn from the edge. Matched on the whole header name, case-insensitively.
# POSIX extended syntax: Kamailio's remove_hf_re takes it as is.
TOWARD_CARRIER_STRIPPED = (
    "^(X-.*|User-Agent|Server|Organization|Remote-Party-ID|P-Preferred-Identity|P-Asserted-Identity|Privacy"
    "|Call-Info|Alert-Info|Diversion|History-Info|Referred-By)$"
)
# Compiled once per process (remove_hf_re compiles its expression on every call: most of what
# an ACK toward a carrier cost).
_STRIPPED = re.compile(TOWARD_CARRIER_STRIPPED, re.IGNORECASE)
# A header line's name; continuation lines start with white space and name nothing.
_HEADER_NAME = re.compile(r"^([^\s:]+)[ \t]*:", re.MULTILINE)
# Identity headers of a customer's call that would show the real number to an agent.
CUSTOMER_IDENTITY_HEADERS = ("P-Asserted-Identity", "Remote-Party-ID", "P-Preferred-Identity")


@dataclass(frozen=True)
class Identity:
    """What an outbound call presents: From (display and URI), P-Asserted-Identity and Privacy."""

    display: str  # a quoted-string, or "" for none
    uri: str
    asserted: str = ""  # P-Asserted-Identity URI, "" for none
    private: bool = False  # Privacy: id (the carrier withholds the number from the callee)

    def headers(self) -> tuple[str, ...]:
        out = (f"P-Asserted-Identity: <{self.asserted}>",) if self.asserted else ()
        return out + (("Privacy: id",) if self.private else ())


def presented_did(company: Company, caller: str, asked_queue: str, queue: Service | None) -> str | None:
    """The DID an agent's outbound call presents: its company's, or the DID of a queue it
    asked for (CALLER_ID_HEADER) and is a member of. None: it asked for one it may not use."""
    if not asked_queue:
        return company.caller_id
    if queue is None or queue.kind != "queue" or not queue.caller_id or caller not in queue.members:
        return None
    return queue.caller_id


def outbound_identity(company: Company, did: str, host: str, privacy_asked: bool, emergency: bool) -> Identity:
    """`did`, never the agent's extension. Privacy (the company's setting, or `Privacy: id`
    from the agent's phone) hides it from the callee, but the carrier still gets it
    asserted; emergency calls always show it. Without a DID the call is anonymous."""
    private = (company.hide_caller_id or privacy_asked) and not emergency
    if not did:  # nothing to show; an emergency call does not ask to withhold the trunk's own
        return Identity(ANONYMOUS_DISPLAY, ANONYMOUS_URI, private=not emergency)
    asserted = f"sip:{did}@{host}"
    if private:
        return Identity(ANONYMOUS_DISPLAY, ANONYMOUS_URI, asserted, private=True)
    return Identity(quoted_string(company.name) if company.name else "", asserted, asserted)


def privacy_asked(privacy_header: str) -> bool:
    """RFC 3323: `Privacy: id` (alone or among other values; `none` asks for nothing)."""
    values = {v.strip().lower() for v in privacy_header.replace(",", ";").split(";")}
    return bool(values & {"id", "user", "header"})


def mask(number: str, visible: int) -> str:
    """All digits but the last `visible` become `*`; a leading `+` and the length stay, so
    agents can still tell a mobile from a landline. Never shows more than half the digits."""
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    shown = min(visible, len(digits) // 2)
    hidden = set(digits[: len(digits) - shown])
    return "".join(MASK_CHAR if i in hidden else ch for i, ch in enumerate(number))


def masked_identity(number: str, host: str, company: Company) -> Identity | None:
    """What an agent of `company` sees of a customer calling from `number`; None: the real one."""
    if not company.mask_customer_numbers:
        return None
    shown = mask(number, company.mask_visible_digits)
    return Identity(quoted_string(shown), f"sip:{shown}@{host}")


def stripped_toward_carrier(headers: str) -> set[str]:
    """The names, as written, of the headers in `headers` (a message's header lines) that must
    not reach a carrier: what remove_hf_re(TOWARD_CARRIER_STRIPPED) would remove."""
    return {name for name in _HEADER_NAME.findall(headers) if _STRIPPED.match(name)}
