"""When the launcher restarts a component that died: the backoff bookkeeping, with no processes.

A component that keeps dying is restarted after 0.5 s, then 1, 2, 4, 8 and at most 10 s; one
that stayed up for STABLE seconds starts from 0.5 s again at its next death.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
STABLE = 30.0


class Phase(Enum):
    UP = "up"
    DOWN = "down"  # dead, waiting for its restart time
    STARTING = "starting"  # restarted, not ready yet


def restart_delay(failures: int) -> float:
    """Seconds before the restart that follows the `failures`-th death in a row."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** (failures - 1))


@dataclass
class Watch:
    """One component's restart state; times are time.monotonic() seconds."""

    since: float  # when the current phase began
    phase: Phase = Phase.UP
    failures: int = 0  # deaths in a row, with no stable run between them
    restart_at: float = 0.0
    down_since: float = 0.0  # when the current outage began

    def died(self, now: float) -> float:
        """A death, or a restart that never became ready: the delay before the next start."""
        if self.phase is Phase.UP:
            if now - self.since >= STABLE:
                self.failures = 0
            self.down_since = now
        self.failures += 1
        delay = restart_delay(self.failures)
        self.phase, self.since, self.restart_at = Phase.DOWN, now, now + delay
        return delay

    def due(self, now: float) -> bool:
        return self.phase is Phase.DOWN and now >= self.restart_at

    def starting(self, now: float) -> None:
        self.phase, self.since = Phase.STARTING, now

    def ready(self, now: float) -> float:
        """Back up: how long the outage lasted."""
        self.phase, self.since = Phase.UP, now
        return now - self.down_since
