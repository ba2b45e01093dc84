"""Signed Record-Route: in-dialog requests are relayed only inside dialogs this edge made.

The edge adds `;ee=<expiry>;es=<signature>` to its Record-Route. The signature is an HMAC,
keyed by the secret every edge node shares, over the dialog's Call-ID and the expiry. An
in-dialog request is relayed only if its first Route is the edge and carries a valid, unexpired
signature for the request's Call-ID. Nothing is stored: it survives a Kamailio restart and
works on any node that shares the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

EXPIRY_PARAM = "ee"
SIGNATURE_PARAM = "es"
# On the Record-Route of a node that only delivers a call another node handed over (see
# policy.cluster): in-dialog requests pass through it without a second transfer or media decision.
HANDOVER_PARAM = "eh"
# Longer than the dialog module's default_timeout (12 h): no dialog outlives its signature.
LIFETIME = 13 * 3600
SIGNATURE_HEX = 20


@lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC state after the key, copied for each signature: the key set-up is most of
    the cost of a short message's HMAC (three per call)."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def signature(secret: str, call_id: str, expires: int, handover: bool = False) -> str:
    text = f"{call_id}|{expires}" + ("|handover" if handover else "")
    mac = _keyed(secret).copy()
    mac.update(text.encode())
    return mac.hexdigest()[:SIGNATURE_HEX]


def record_route_params(secret: str, call_id: str, now: float, handover: bool = False) -> str:
    """The parameters the edge adds to its Record-Route for a new dialog (`handover`: on the
    node delivering a call another node handed over; the flag is signed too)."""
    expires = int(now) + LIFETIME
    flag = f";{HANDOVER_PARAM}=1" if handover else ""
    return f";{EXPIRY_PARAM}={expires}{flag};{SIGNATURE_PARAM}={signature(secret, call_id, expires, handover)}"


def uri_params(uri: str) -> dict[str, str]:
    """Parameters of a SIP URI (`<sip:host;a=1;lr>` or bare), lower-cased names."""
    inner = uri.strip()
    if inner.startswith("<"):
        inner = inner[1:].split(">", 1)[0]
    inner = inner.split("?", 1)[0]
    out = {}
    for part in inner.split(";")[1:]:
        name, _, value = part.partition("=")
        out[name.strip().lower()] = value.strip()
    return out


def signed_params(secret: str, call_id: str, route_uri: str, now: float) -> dict[str, str] | None:
    """The parameters of the edge's Route when it carries a signature the edge made for this
    Call-ID, still in force; else None. Parsed once: `handed_over` reads them again."""
    params = uri_params(route_uri)
    expires, signed = params.get(EXPIRY_PARAM, ""), params.get(SIGNATURE_PARAM, "")
    if not expires.isdigit() or int(expires) < now or not call_id:
        return None
    if hmac.compare_digest(signed.lower(), signature(secret, call_id, int(expires), HANDOVER_PARAM in params)):
        return params
    return None


def valid(secret: str, call_id: str, route_uri: str, now: float) -> bool:
    """Does the edge's Route carry a signature it made for this Call-ID, still in force?"""
    return signed_params(secret, call_id, route_uri, now) is not None


def handed_over(route: str | dict[str, str]) -> bool:
    """Is this Route (its URI, or the parameters `signed_params` gave) the Record-Route of a
    node that only delivers?"""
    return HANDOVER_PARAM in (route if isinstance(route, dict) else uri_params(route))
