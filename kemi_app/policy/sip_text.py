"""Text from provisioning (names an operator typed) made safe inside SIP header values."""

from __future__ import annotations


def quoted_string(text: str) -> str:
    """RFC 3261 quoted-string: `"` and `\\` backslash-escaped; CR, LF and the other control
    characters (which could end the header or the message) dropped; tab kept as whitespace."""
    kept = "".join(ch for ch in text if ch == "\t" or (ch >= " " and ch != "\x7f"))
    return '"' + kept.replace("\\", "\\\\").replace('"', '\\"') + '"'
