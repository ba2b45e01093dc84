"""Circuit breaker of one dependency (Redis, rtpengine) in one worker: a pure state machine.

closed: calls go through; `threshold` failures in a row open it.
open: calls are refused at once (the caller answers 503) until `cooldown` seconds passed.
half-open: one probe call goes through; its success closes the breaker, its failure opens
it again for another cooldown. Time is passed in, so every transition is unit-testable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class Breaker:
    threshold: int = 3
    cooldown: float = 2.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    since: float = 0.0  # when it opened, or when the half-open probe went out

    def admit(self, now: float) -> tuple[bool, Breaker]:
        """May a call go out now, and the breaker after that decision."""
        if self.state is BreakerState.CLOSED:
            return True, self
        if now - self.since < self.cooldown:
            return False, self  # open and cooling down, or a probe is still out
        return True, replace(self, state=BreakerState.HALF_OPEN, since=now)

    def succeeded(self) -> Breaker:
        if self.state is BreakerState.CLOSED and not self.failures:
            return self  # reported after every Redis reply: nothing to build while all is well
        return replace(self, state=BreakerState.CLOSED, failures=0)

    def failed(self, now: float) -> Breaker:
        failures = self.failures + 1
        if self.state is BreakerState.OPEN:
            return replace(self, failures=failures)  # a late report: the cooldown stands
        if self.state is BreakerState.HALF_OPEN or failures >= self.threshold:
            return replace(self, state=BreakerState.OPEN, failures=failures, since=now)
        return replace(self, failures=failures)

    def retry_after(self, now: float) -> int:
        """Whole seconds until the next probe (at least 1): the Retry-After of a 503."""
        if self.state is BreakerState.CLOSED:
            return 1
        return max(1, math.ceil(self.cooldown - (now - self.since)))


def opened(before: Breaker, after: Breaker) -> bool:
    """The transition that counts as an outage start (for the breaker-open counter)."""
    return after.state is BreakerState.OPEN and before.state is not BreakerState.OPEN
