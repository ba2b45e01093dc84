"""HTTP Digest (RFC 7616, MD5, qop=auth) for the agent API, checked against the agent's SIP
HA1 = MD5(ext:domain:password): the realm is the org's SIP domain, so an agent uses the same
credentials as its phone and the edge never needs the password.

Nonces are stateless: `<expiry>.<salt>.<HMAC of realm, expiry and salt>` under the secret
every edge node shares; each use (nonce, nc, cnonce) is claimed once in Redis, like SIP's (policy.digest).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

from kemi_app.policy.digest import credential_params

NONCE_LIFETIME = 300  # seconds; a stale nonce is answered with a fresh one (stale=true)
QOP = "auth"
SIGNATURE_HEX = 24


class NonceCheck(str, Enum):
    VALID = "valid"
    STALE = "stale"  # signed by an edge, but expired: the client retries with the new nonce
    INVALID = "invalid"


def _sign(secret: str, realm: str, expires: str, salt: str) -> str:
    mac = hmac.new(secret.encode(), f"agent-api|{realm}|{expires}|{salt}".encode(), hashlib.sha256)
    return mac.hexdigest()[:SIGNATURE_HEX]


def make_nonce(secret: str, realm: str, now: float, salt: str) -> str:
    """`salt`: a few random characters (no '.'), so no two challenges share a nonce."""
    expires = str(int(now) + NONCE_LIFETIME)
    return f"{expires}.{salt}.{_sign(secret, realm, expires, salt)}"


def check_nonce(secret: str, realm: str, nonce: str, now: float) -> NonceCheck:
    expires, _, rest = nonce.partition(".")
    salt, _, signature = rest.partition(".")
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        return NonceCheck.INVALID
    if not hmac.compare_digest(signature.encode(), _sign(secret, realm, expires, salt).encode()):
        return NonceCheck.INVALID
    return NonceCheck.VALID if int(expires) >= now else NonceCheck.STALE


def challenge(realm: str, nonce: str, stale: bool = False) -> str:
    """The WWW-Authenticate value."""
    value = f'Digest realm="{realm}", nonce="{nonce}", qop="{QOP}", algorithm=MD5'
    return value + ", stale=true" if stale else value


@dataclass(frozen=True)
class Credentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    nc: str
    cnonce: str


def parse_credentials(header: str) -> Credentials | None:
    """None unless the Authorization header is a complete Digest with qop=auth and MD5."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    p = credential_params(rest)
    if p.get("qop") != QOP or p.get("algorithm", "MD5").upper() != "MD5":
        return None
    names = ("username", "realm", "nonce", "uri", "response", "nc", "cnonce")
    if not all(p.get(name) for name in names):
        return None
    return Credentials(*(p[name] for name in names))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def expected_response(ha1: str, method: str, c: Credentials) -> str:
    return _md5(f"{ha1}:{c.nonce}:{c.nc}:{c.cnonce}:{QOP}:{_md5(f'{method}:{c.uri}')}")


def response_ok(ha1: str, method: str, c: Credentials) -> bool:
    return hmac.compare_digest(expected_response(ha1, method, c).encode(), c.response.lower().encode())
