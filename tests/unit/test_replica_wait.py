"""Behind Sentinel an acknowledged write waits for the replica (WAIT 1), but not over and over
for a replica that is missing."""

from __future__ import annotations

from redis.sentinel import Sentinel, SentinelConnectionPool

from kemi_app.state.base import REPLICA_ABSENT_SECONDS, REPLICA_WAIT_MS, Store


class FakeClient:
    def __init__(self, acks: int, sentinel: bool = True) -> None:
        self.acks = acks
        self.waits: list[tuple[int, int]] = []
        self.connection_pool = SentinelConnectionPool("edge", Sentinel([("127.0.0.1", 1)])) if sentinel else None

    def wait(self, replicas: int, timeout_ms: int) -> int:
        self.waits.append((replicas, timeout_ms))
        return self.acks


def store(client: FakeClient, now: list[float]) -> Store:
    return Store(client, clock=lambda: now[0])  # type: ignore[arg-type]


def test_every_write_waits_for_the_replica_behind_sentinel() -> None:
    client, now = FakeClient(acks=1), [0.0]
    s = store(client, now)
    s._replicated()
    s._replicated()
    assert client.waits == [(1, REPLICA_WAIT_MS)] * 2


def test_a_missing_replica_is_not_waited_for_again_for_a_while() -> None:
    client, now = FakeClient(acks=0), [0.0]
    s = store(client, now)
    s._replicated()
    now[0] = REPLICA_ABSENT_SECONDS - 0.1
    s._replicated()
    assert len(client.waits) == 1
    now[0] = REPLICA_ABSENT_SECONDS + 0.1
    s._replicated()
    assert len(client.waits) == 2


def test_a_single_instance_never_waits() -> None:
    client, now = FakeClient(acks=0, sentinel=False), [0.0]
    store(client, now)._replicated()
    assert client.waits == []
