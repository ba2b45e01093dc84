"""The edge's Redis client (kemi_app/redis_wire.py) against a real redis-server of its own:
a connection Redis dropped or left a reply on is replaced before the next command, a stalled
Redis costs one timeout (also in a process that gets a signal every few ms), and a forked
child never talks on its parent's socket."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from kemi_app.state import connect
from kemi_app.state.guard import StoreUnavailable
from tests.conftest import RedisServer, redis_of_its_own

TIMEOUT = 0.2


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with redis_of_its_own() as server:
        yield server


@pytest.fixture(params=[False, True], ids=["python-timeouts", "kernel-timeouts"])
def client(request: pytest.FixtureRequest, server: RedisServer) -> redis.Redis:
    return connect(server[1], TIMEOUT, kernel_timeouts=request.param)


def test_a_connection_redis_closed_is_replaced_before_the_next_command(
    client: redis.Redis, server: RedisServer
) -> None:
    client.set("wire:k", "v")
    redis.Redis.from_url(server[1]).execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
    time.sleep(0.1)  # the close reaches this side
    assert client.get("wire:k") == "v"
    with client.pipeline(transaction=True) as p:
        p.get("wire:k")
        assert p.execute() == ["v"]


def test_a_reply_left_on_the_connection_is_never_taken_for_the_next_commands(client: redis.Redis) -> None:
    client.set("wire:a", "a")
    client.set("wire:b", "b")
    conn = client.connection_pool.get_connection("GET")
    conn.send_command("GET", "wire:a")  # sent, its reply never read
    client.connection_pool.release(conn)
    time.sleep(0.05)
    assert client.get("wire:b") == "b"


def test_a_stalled_redis_costs_one_timeout_even_with_a_signal_every_10_ms(server: RedisServer) -> None:
    """Kamailio's timer process gets SIGALRM every tick: its client keeps Python's timeouts."""
    proc, url = server
    client = connect(url, TIMEOUT)
    client.ping()
    ticks = []
    previous = signal.signal(signal.SIGALRM, lambda *_: ticks.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    resume = threading.Timer(5.0, lambda: os.kill(proc.pid, signal.SIGCONT))  # never stalled for ever
    os.kill(proc.pid, signal.SIGSTOP)
    resume.start()
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            client.get("wire:k")
        took = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.kill(proc.pid, signal.SIGCONT)
        resume.cancel()
    assert ticks, "no signal came while it waited"
    assert took < 2.0, f"waited {took:.1f} s on a stalled Redis"


def test_a_forked_child_makes_its_own_connection(client: redis.Redis) -> None:
    client.set("wire:k", "v")
    parent = client.connection_pool._available_connections[0]  # type: ignore[attr-defined]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its pool starts empty, its command goes on a new connection
        ok = not client.connection_pool._available_connections and client.get("wire:k") == "v"  # type: ignore[attr-defined]
        ok = ok and client.connection_pool._available_connections[0] is not parent  # type: ignore[attr-defined]
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)
    assert client.get("wire:k") == "v"  # the parent's connection still in step
