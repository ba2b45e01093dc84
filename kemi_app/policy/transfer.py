"""Transfers: what a REFER's Refer-To asks for, and the edge's rewrite of it.

The edge keeps every transfer on its own path: the Refer-To it passes on points back at the
edge with a one-time token, so the transferee's new INVITE is routed by the edge and linked
to the original attendance, whatever the transferee's phone does with URI parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote

from kemi_app.extensions import is_agent_ext

TOKEN_PARAM = "xfer"
API_ACTOR = "api"  # who asked, in the history, for a transfer asked for through the API
_TOKEN = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class ReferTarget:
    user: str
    host: str
    replaces: str = ""  # the Replaces header value for an attended transfer, unescaped

    @property
    def kind(self) -> str:
        return "attended" if self.replaces else "blind"


def parse_refer_to(value: str) -> ReferTarget | None:
    """`<sip:1002@demo.test?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>` and the like."""
    match = re.search(r"<\s*sips?:([^>]*)>", value) or re.match(r"\s*sips?:(\S+)", value)
    if match is None:
        return None
    uri, _, headers = match.group(1).partition("?")
    userhost = uri.split(";", 1)[0]
    if "@" not in userhost:
        return None
    user, host = userhost.rsplit("@", 1)
    host = host.split(":", 1)[0].lower()
    replaces = ""
    for header in headers.split("&"):
        name, _, raw = header.partition("=")
        if name.lower() == "replaces":
            replaces = unquote(raw)
    if not user or not host:
        return None
    return ReferTarget(user=unquote(user), host=host, replaces=replaces)


def token_of(request_uri: str) -> str:
    """The transfer token in an INVITE's Request-URI ('' when none or malformed)."""
    for param in request_uri.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.lower() == TOKEN_PARAM:
            value = value.split("?", 1)[0].split(">", 1)[0]
            return value if _TOKEN.match(value) else ""
    return ""


def edge_refer_to(user: str, edge_hostport: str, token: str) -> str:
    return f"<sip:{user}@{edge_hostport};{TOKEN_PARAM}={token}>"


def counts_as_transfer(actor: str) -> bool:
    """Does this REFER make the call "already transferred" for the inter-org rule? An agent's
    (or the API's, on an agent's behalf) does. An IVR sending the caller on to a queue is
    routing, not a transfer: its REFER is named after the IVR service, or the overflow IVR's
    own user, never an agent extension."""
    return is_agent_ext(actor) or actor == API_ACTOR


class Progress(str, Enum):
    """An inter-org transfer asked for through the API, until it is known how it went."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


PENDING_SECONDS = 120  # no word from the customer's phone in this long: failed (as the token expires)
NO_WORD = "no word from the customer's phone"  # why such a transfer failed


def sipfrag_status(body: str) -> int:
    """The status of a NOTIFY's message/sipfrag body (`SIP/2.0 200 OK`); 0 if unreadable."""
    parts = body.strip().split(None, 2)
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit() and len(parts[1]) == 3:
        return int(parts[1])
    return 0


def notify_progress(status: int) -> Progress:
    """What a NOTIFY's sipfrag says of the transferee's new call: still trying (1xx or
    unreadable), answered, or refused."""
    if 200 <= status < 300:
        return Progress.SUCCEEDED
    if status >= 300:
        return Progress.FAILED
    return Progress.PENDING


def progress_now(stored: Progress, started: float, now: float) -> Progress:
    """A transfer still pending after PENDING_SECONDS will not complete: its token is gone
    (the customer's phone refused the REFER, or never acted on it)."""
    if stored is Progress.PENDING and now - started > PENDING_SECONDS:
        return Progress.FAILED
    return stored
