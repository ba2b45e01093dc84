"""What to answer after a failed digest check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthVerdict:
    challenge: bool
    status: int = 0
    reason: str = ""


def after_failure(failures: int, max_failures: int) -> AuthVerdict:
    """A wrong password earns a fresh challenge until the agent has failed too often."""
    if failures >= max_failures:
        return AuthVerdict(challenge=False, status=403, reason="Too Many Failed Authentications")
    return AuthVerdict(challenge=True)
