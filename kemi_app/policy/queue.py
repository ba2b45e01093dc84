"""Queue decisions: what happens when nobody is free, waiting, and the service level.

Which member is offered a call (longest idle first among the offerable ones) is decided in
Redis, in one script over the queue's compact state (kemi_app/state/queues.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Overflow:
    status: int
    reason: str
    target_uri: str = ""  # where to send the call instead; empty: answer status/reason


def when_nobody_left(ivr_uri: str) -> Overflow:
    if ivr_uri:
        return Overflow(0, "", ivr_uri)
    return Overflow(480, "No Agent Available")


# Answers from an offered agent after which the next agent is tried.
RETRY_NEXT_AGENT = frozenset({408, 480, 486, 487, 600, 603})


def try_next_agent(status: int, caller_cancelled: bool) -> bool:
    """No answer (408), busy, declined or unavailable: move on, unless the caller hung up."""
    return not caller_cancelled and (status in RETRY_NEXT_AGENT or 500 <= status < 600)


@dataclass(frozen=True)
class Waiter:
    """A call waiting in a queue: its parked transaction (suspended) on the node holding it."""

    node: str
    org: str
    queue: str
    tindex: int
    tlabel: int
    attendance: str
    lock_ms: int  # how long a member handed to it stays reserved (its ring time and a margin)
    expires: float  # past this it surely waits no more (its node may be gone): skipped

    def encode(self) -> str:
        """Always the same text for the same waiter: it is a sorted-set member."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> Waiter:
        return cls(**json.loads(raw))


MIN_WAIT_LEFT = 1.0  # seconds: less than this left of max_wait is not worth waiting again


def wait_left(max_wait: int, waiting_since: float, now: float) -> float:
    """Seconds the call may still wait (0: do not wait, overflow). `waiting_since` 0: it never
    waited yet."""
    if max_wait <= 0:
        return 0.0
    left = max_wait - (now - waiting_since if waiting_since else 0.0)
    return left if left >= MIN_WAIT_LEFT else 0.0


def answered_outcome(waited: float, service_level_seconds: int) -> str:
    """A queue call answered after waiting `waited` seconds, for the service level metric."""
    return "answered-in-sl" if waited <= service_level_seconds else "answered-late"
