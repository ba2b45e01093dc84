"""Transfers: what a REFER's Refer-To asks for, and the edge's rewrite of it.

The edge keeps every transfer on its own path: the Refer-To it passes on points back at the
edge with a one-time token, so the transferee's new INVITE is routed by the edge and linked
to the original attendance, whatever the transferee's phone does with URI parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

TOKEN_PARAM = "xfer"
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
