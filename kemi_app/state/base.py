"""What every store shares: its client, the one retry policy for optimistic transactions,
loading a set of records, and waiting for a replica to hold an acknowledged write."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.provisioning.errors import Conflict
from kemi_app.redis_locator import behind_sentinel
from kemi_app.state.codec import decode
from kemi_app.state.scripts import execute

T = TypeVar("T")
MAX_RETRIES = 50
# Behind Sentinel a registration or provisioning write is confirmed only once the replica has
# it (WAIT 1), so a failover loses none. A replica that does not confirm within REPLICA_WAIT_MS
# is waited for no more for REPLICA_ABSENT_SECONDS: writes go on unconfirmed (and counted).
REPLICA_WAIT_MS = 100
REPLICA_ABSENT_SECONDS = 5.0


class Store:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self.r = client
        self._replicas = 1 if behind_sentinel(client) else 0
        self._clock = clock
        self._replica_absent_until = 0.0

    def _replicated(self) -> None:
        """After a write the caller is about to acknowledge: wait for the replica to hold it."""
        if not self._replicas or self._clock() < self._replica_absent_until:
            if self._replicas:
                metrics.unreplicated_write(type(self).__name__)
            return
        if int(self.r.wait(self._replicas, REPLICA_WAIT_MS)) < self._replicas:
            self._replica_absent_until = self._clock() + REPLICA_ABSENT_SECONDS
            metrics.unreplicated_write(type(self).__name__)

    def _optimistic(self, watch: list[str], body: Callable[[Pipeline], T]) -> T:
        """Runs `body` (reads and checks, then p.multi() and queued writes; or no writes at
        all) until none of the watched keys changed under it: checks and writes land together
        or not at all (a script Redis had lost lands just after: scripts.execute). After
        MAX_RETRIES lost races the caller gets Conflict."""
        for _ in range(MAX_RETRIES):
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(*watch)
                    result = body(p)
                    execute(p)
                    return result
                except redis.WatchError:
                    continue
        raise Conflict("too many concurrent changes, try again")

    def _load_all(self, cls: type[T], set_key: str, key_of: Callable[[str], str]) -> list[T]:
        ids = sorted(self.r.smembers(set_key))
        with self.r.pipeline(transaction=False) as p:
            for i in ids:
                p.hgetall(key_of(i))
            rows = p.execute()
        return [e for e in (decode(cls, row) for row in rows) if e is not None]
