"""What every store shares: its client, the one retry policy for optimistic transactions,
and loading a set of records."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis
from redis.client import Pipeline

from kemi_app.provisioning.errors import Conflict
from kemi_app.state.codec import decode

T = TypeVar("T")
MAX_RETRIES = 50


class Store:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def _optimistic(self, watch: list[str], body: Callable[[Pipeline], T]) -> T:
        """Runs `body` (reads and checks, then p.multi() and queued writes; or no writes at
        all) until none of the watched keys changed under it: checks and writes land together
        or not at all. After MAX_RETRIES lost races the caller gets Conflict."""
        for _ in range(MAX_RETRIES):
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(*watch)
                    result = body(p)
                    p.execute()
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
