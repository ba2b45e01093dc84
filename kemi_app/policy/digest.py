"""Digest credentials: only HA1 = MD5(user:realm:password) is ever stored."""

from __future__ import annotations

import hashlib


def ha1(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def looks_like_ha1(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
