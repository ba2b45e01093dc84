"""The connection's command framing (state/resp.py) puts on the wire exactly the bytes
redis-py's own pack_command does, and refuses what redis-py's Encoder refuses."""

from __future__ import annotations

import pytest
from redis.connection import Connection
from redis.exceptions import DataError

from kemi_app.state import resp

COMMANDS = [
    ("GET", "edge:key"),
    ("EVALSHA", "a" * 40, 3, "k1", "k2", "k3", 1.5, -7, b"\x00\xffraw", "ação", ""),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"edge"),
    (b"PING",),
    ("SET", "big", "x" * 20000),
    ("HSET", "h", "f", memoryview(b"view")),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_the_bytes_are_redis_pys(args: tuple) -> None:
    connection = Connection()
    assert b"".join(resp.pack(connection.encoder, args)) == b"".join(map(bytes, connection.pack_command(*args)))


@pytest.mark.parametrize("bad", [True, None, object()])
def test_what_the_encoder_refuses_is_refused(bad: object) -> None:
    with pytest.raises(DataError):
        resp.pack(Connection().encoder, ("SET", "k", bad))
