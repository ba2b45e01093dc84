"""redis-py with less work per round trip: in a SIP worker a command costs one send, one receive
and one poll(0), where redis-py's defaults cost nine system calls and several layers of Python.

- LeanConnection: replies parsed by hiredis straight from the socket; in a SIP worker a blocking
  socket whose timeouts the kernel keeps (SO_RCVTIMEO/SO_SNDTIMEO), so no poll() before each
  send and receive (elsewhere Python's timeouts: signals must not stretch a wait).
- LeanPool / LeanSentinelPool: hand out a process's connection without a lock or a pid check
  (a fork resets the pools instead: os.register_at_fork). The check that a connection handed
  out has nothing left to read (a reply left over, or Redis closed it: then reconnect, as
  redis-py does) is one poll(0).
- LeanRedis: execute_command without the retry wrapper (no retries are configured: a broken
  connection is dropped and the error raised, as before).
The classes the stores use stay redis.Redis and redis.client.Pipeline.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import weakref
from time import time
from typing import Any

import redis
from redis import connection as _connection
from redis.connection import (
    SERVER_CLOSED_CONNECTION_ERROR,
    Connection,
    ConnectionPool,
    HiredisParser,
)
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection

# Defined by redis-py only when hiredis is installed: without it every reply takes the parser's own path.
HIREDIS_USE_BYTE_BUFFER = getattr(_connection, "HIREDIS_USE_BYTE_BUFFER", False)

_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _kernel_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Blocking mode; a send or receive that waits longer than `seconds` fails with EAGAIN
    (BlockingIOError). None or 0: wait for ever."""
    sock.settimeout(None)
    whole = int(seconds or 0)
    tv = struct.pack("ll", whole, int(((seconds or 0) - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


class LeanConnection(Connection):
    # Only for a process that gets no signals while it waits (a SIP worker): the kernel restarts
    # an interrupted wait with the whole timeout, so a process that gets signals every few ms
    # (Kamailio's timer processes: SIGALRM) would wait on a stalled Redis for ever.
    kernel_timeouts = False
    _ready: select.poll

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        if self.kernel_timeouts:
            _kernel_timeout(sock, self.socket_timeout)
        self._ready = select.poll()
        self._ready.register(sock, select.POLLIN)
        return sock

    def can_read(self, timeout: float = 0) -> bool:
        try:
            return bool(super().can_read(timeout))
        finally:  # the parser gave the socket a Python timeout for this: the kernel's again
            if self._sock and self.kernel_timeouts:
                self._sock.settimeout(None)

    def has_leftovers(self) -> bool:
        """Anything to read (a stale reply, or Redis closed the connection) before a command."""
        return bool(self._ready.poll(0))

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()
        if check_health:
            self.check_health()
        try:
            for item in command:
                self._sock.sendall(item)
        except BaseException as e:
            self.disconnect()
            raise _broken(e, "writing to") from e

    def read_response(self, disable_decoding: bool = False) -> Any:
        parser = self._parser
        if disable_decoding or not isinstance(parser, HiredisParser) or not HIREDIS_USE_BYTE_BUFFER \
                or parser._next_response is not False or parser._reader is None:
            return super().read_response(disable_decoding=disable_decoding)
        reader, buffer = parser._reader, parser._buffer
        try:
            response = reader.gets()
            while response is False:
                n = self._sock.recv_into(buffer)
                if not n:
                    raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
                reader.feed(buffer, 0, n)
                response = reader.gets()
        except BaseException as e:
            self.disconnect()
            raise _broken(e, "reading from") from e
        if self.health_check_interval:
            self.next_health_check = time() + self.health_check_interval
        if isinstance(response, ResponseError | ConnectionError):
            raise response
        if isinstance(response, list) and response and isinstance(response[0], ConnectionError):
            raise response[0]
        return response


def _broken(e: BaseException, doing: str) -> BaseException:
    """The error redis-py raises for `e`: a timeout (EAGAIN on a blocking socket is one), a
    ConnectionError for any other OSError, anything else as it is."""
    if isinstance(e, BlockingIOError | socket.timeout):
        return TimeoutError(f"Timeout {doing} socket")
    if isinstance(e, OSError):
        return ConnectionError(f"Error while {doing} socket: {e.args}")
    return e


class _Lean:
    """get_connection / release of a ConnectionPool without its lock (the list's pop and append
    are atomic: threads still never share a connection) and without a pid check per call."""

    def get_connection(self, command_name: str, *keys: Any, **options: Any) -> Connection:
        try:
            connection = self._available_connections.pop()  # type: ignore[attr-defined]
        except IndexError:
            connection = self.make_connection()  # type: ignore[attr-defined]
        self._in_use_connections.add(connection)  # type: ignore[attr-defined]
        try:
            connection.connect()
            if connection.has_leftovers():
                connection.disconnect()
                connection.connect()
        except BaseException:
            self.release(connection)
            raise
        return connection

    def release(self, connection: Connection) -> None:
        self._in_use_connections.discard(connection)  # type: ignore[attr-defined]
        if self.owns_connection(connection):  # type: ignore[attr-defined]
            self._available_connections.append(connection)  # type: ignore[attr-defined]
        else:  # made before a fork, or (Sentinel) to a primary that is one no more
            self._created_connections -= 1  # type: ignore[attr-defined]
            connection.disconnect()


class LeanPool(_Lean, ConnectionPool):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _POOLS.add(self)


class LeanSentinelPool(_Lean, SentinelConnectionPool):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _POOLS.add(self)


class LeanSentinelConnection(SentinelManagedConnection, LeanConnection):
    pass


class LeanRedis(redis.Redis):
    def execute_command(self, *args: Any, **options: Any) -> Any:
        pool = self.connection_pool
        name = args[0]
        conn = self.connection or pool.get_connection(name, **options)
        try:
            conn.send_packed_command(conn.pack_command(*args))
            return self.parse_response(conn, name, **options)
        except (ConnectionError, TimeoutError):
            conn.disconnect()
            raise
        finally:
            if not self.connection:
                pool.release(conn)


def _after_fork() -> None:
    """A child must not use its parent's sockets: its pools start empty."""
    for pool in list(_POOLS):
        pool.reset()


os.register_at_fork(after_in_child=_after_fork)
