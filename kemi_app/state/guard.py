"""Redis behind a circuit breaker: every connection of a client shares one Dependency.

A stalled or dead Redis costs a worker at most `threshold` short timeouts; after that each
command fails at once (StoreUnavailable) until a probe after the cooldown gets an answer.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.connection import Connection

from kemi_app.dependency import Dependency, DependencyDown
from kemi_app.policy.breaker import Breaker
from kemi_app.state import resp

REASON = "State Store Unavailable"
FAILURES_TO_OPEN = 2
COOLDOWN_SECONDS = 2.0
_BROKEN = (redis.ConnectionError, redis.TimeoutError)


class StoreUnavailable(redis.ConnectionError, DependencyDown):
    """Redis could not be used: a redis.ConnectionError for the code that catches those."""

    def __init__(self, down: DependencyDown) -> None:
        DependencyDown.__init__(self, down.name, down.reason, down.retry_after, down.detail)


def redis_dependency() -> Dependency:
    return Dependency("redis", REASON, Breaker(threshold=FAILURES_TO_OPEN, cooldown=COOLDOWN_SECONDS))


def guarded(dependency: Dependency, base: type[Connection] = Connection) -> type[Connection]:
    """A connection class whose instances report to (and are refused by) `dependency`; `base`
    is redis_locator.base_connection (a lean one; Sentinel-managed behind Sentinel)."""

    class GuardedConnection(base):
        def connect(self) -> None:
            # The pool calls this each time it hands the connection out: once per command or pipeline.
            if not dependency.admit():
                self.disconnect()
                raise StoreUnavailable(dependency.down())
            if not self._sock:
                self._reporting(super().connect)

        def pack_command(self, *args: Any) -> list[bytes]:
            return resp.pack(self.encoder, args)

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            self._reporting(super().send_packed_command, command, check_health)

        def read_response(self, disable_decoding: bool = False) -> Any:
            try:
                response = super().read_response(disable_decoding=disable_decoding)
            except redis.ResponseError:
                dependency.succeeded()  # Redis answered, with an error of the command's own
                raise
            except _BROKEN as e:
                dependency.failed()
                raise StoreUnavailable(dependency.down(str(e))) from e
            dependency.succeeded()
            return response

        def _reporting(self, action: Any, *args: Any) -> None:
            try:
                action(*args)
            except StoreUnavailable:
                raise
            except _BROKEN as e:
                dependency.failed()
                raise StoreUnavailable(dependency.down(str(e))) from e

    return GuardedConnection
