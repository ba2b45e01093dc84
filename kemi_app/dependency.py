"""A worker's view of one dependency (Redis, rtpengine): its circuit breaker on the clock,
the breaker-open counter, and the exception that becomes a fast 503 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable

from kemi_app import metrics
from kemi_app.policy.breaker import Breaker, BreakerState, opened


class DependencyDown(Exception):
    """Raised instead of waiting on a dependency whose breaker is open (or that just failed)."""

    def __init__(self, name: str, reason: str, retry_after: int, detail: str = "") -> None:
        super().__init__(f"{name} unavailable{': ' + detail if detail else ''}")
        self.name = name
        self.reason = reason  # SIP reason phrase of the 503
        self.retry_after = retry_after
        self.detail = detail


class Dependency:
    def __init__(self, name: str, reason: str, breaker: Breaker,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.reason = reason
        self.breaker = breaker
        self.clock = clock

    def admit(self) -> bool:
        if self.breaker.state is BreakerState.CLOSED:  # asked before every Redis command
            return True
        ok, self.breaker = self.breaker.admit(self.clock())
        return ok

    def usable(self) -> bool:
        """admit() for a dependency used several times per request (rtpengine: the request
        route, then each branch): a half-open probe stays admitted until its outcome is known."""
        return self.breaker.state is BreakerState.HALF_OPEN or self.admit()

    def succeeded(self) -> None:
        self.breaker = self.breaker.succeeded()

    def failed(self) -> None:
        before, self.breaker = self.breaker, self.breaker.failed(self.clock())
        if opened(before, self.breaker):
            metrics.breaker_open(self.name)

    def down(self, detail: str = "") -> DependencyDown:
        return DependencyDown(self.name, self.reason, self.breaker.retry_after(self.clock()), detail)
