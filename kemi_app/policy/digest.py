"""Digest credentials: only HA1 = MD5(user:realm:password) is ever stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re


def ha1(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def looks_like_ha1(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


_PARAM_RE = re.compile(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]*))')


def credential_params(header: str) -> dict[str, str]:
    """Parameters of a Digest Authorization header, names lower-cased."""
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM_RE.finditer(header)}


def nonce_use(header: str) -> str:
    """What makes one use of a nonce unique: a replayed Authorization repeats it exactly (the
    digest covers nonce, nc and cnonce, so none can be changed), a real client's next request
    has a new nc or cnonce. '' when the header names no nonce."""
    p = credential_params(header)
    if not p.get("nonce"):
        return ""
    use = "|".join((p.get("username", ""), p.get("realm", ""), p["nonce"], p.get("nc", ""), p.get("cnonce", "")))
    return hashlib.sha256(use.encode()).hexdigest()[:32]


_RESPONSE_RE = re.compile(r"[0-9a-fA-F]{32}")


def issued_nonce(header: str, now: float) -> bool:
    """Whether `header` answers a challenge with a full response and a nonce shaped like those
    Kamailio's auth module issues (base64 of its expiry, issue time and MD5s), still unexpired.
    Such a nonce that the module refuses as invalid was issued with another secret: by another
    node or before a restart. The password was never checked: not a failed attempt."""
    p = credential_params(header)
    if not _RESPONSE_RE.fullmatch(p.get("response", "")):
        return False
    try:
        raw = base64.b64decode(p.get("nonce", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 24 and int.from_bytes(raw[:4], "big") >= now
