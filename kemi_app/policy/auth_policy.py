"""What to answer after a failed digest check, and what a failure counts against."""

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


def counts_per_agent(agent_exists: bool) -> bool:
    """A failure counts against the agent from that source address (so the agent's own office
    is never locked out by someone elsewhere). Names that are no agent share one counter per
    source: made-up names must not each create a key, yet still look like wrong passwords."""
    return agent_exists
