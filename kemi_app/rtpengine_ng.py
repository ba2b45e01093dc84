"""rtpengine ng-protocol client (bencode over UDP): health pings, session deletes and queries.

Each process (and thread) keeps one socket per rtpengine and numbers its cookies after a
random prefix of its own: a delete per call costs no socket set-up, no urandom read, and no
ioctl() to set the socket's timeout again (only when it changes).
Cookies stay unique across processes, as rtpengine's reply cache by cookie needs."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time
from typing import Any


def bencode(value: Any) -> bytes:
    kind = type(value)  # the common exact types first, without walking isinstance checks
    if kind is str:
        value, kind = value.encode(), bytes
    if kind is bytes:
        return b"%d:%s" % (len(value), value)
    if kind is dict:
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    if kind is list:
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if kind is int:
        return b"i%de" % value
    return _bencode_other(value)


def _bencode_other(value: object) -> bytes:
    """Subclasses (bool, str enums, ...) of what bencode takes, as their base type."""
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, bytes):
        return bencode(bytes(value))
    if isinstance(value, int):
        return b"i%de" % int(value)
    if isinstance(value, list):
        return bencode(list(value))
    if isinstance(value, dict):
        return bencode(dict(value))
    raise TypeError(f"cannot bencode {type(value).__name__}")


def _key(item: object) -> str:
    if not isinstance(item, bytes):
        raise ValueError("bencoded dictionary key is not a string")
    return item.decode()


def _bdecode(data: bytes, i: int) -> tuple[object, int]:
    kind = data[i : i + 1]
    if kind == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        i += 1
        items: list[object] = []
        while data[i : i + 1] != b"e":
            item, i = _bdecode(data, i)
            items.append(item)
        if kind == b"l":
            return items, i + 1
        return {_key(items[k]): items[k + 1] for k in range(0, len(items), 2)}, i + 1
    colon = data.index(b":", i)
    length = int(data[i:colon])
    start = colon + 1
    return data[start : start + length], start + length


def bdecode(data: bytes) -> object:
    return _bdecode(data, 0)[0]


class _Peer:
    """One rtpengine's socket, and the timeout set on it now."""

    def __init__(self, ng_addr: str) -> None:
        host, port = ng_addr.rsplit(":", 1)
        self.address = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.timeout = 0.0

    def wait_at_most(self, seconds: float) -> None:
        if seconds != self.timeout:
            self.sock.settimeout(seconds)
            self.timeout = seconds


class _Channels(threading.local):
    def __init__(self) -> None:
        self.prefix = secrets.token_hex(4)
        self.numbers = itertools.count()
        self.peers: dict[str, _Peer] = {}


_channels = _Channels()


def _forked() -> None:
    """A child must not share its parent's sockets nor cookies."""
    global _channels
    _channels = _Channels()


os.register_at_fork(after_in_child=_forked)


def command(ng_addr: str, cmd: dict[str, object], timeout: float = 1.0) -> dict[str, object]:
    """Sends one ng command and returns the decoded answer; raises OSError on no answer.
    A late answer to an earlier command that timed out is skipped by its cookie."""
    channels = _channels
    peer = channels.peers.get(ng_addr) or channels.peers.setdefault(ng_addr, _Peer(ng_addr))
    cookie = f"{channels.prefix}{next(channels.numbers):x} ".encode()
    peer.wait_at_most(timeout)
    peer.sock.sendto(cookie + bencode(cmd), peer.address)
    deadline = time.monotonic() + timeout
    while not (data := peer.sock.recv(65535)).startswith(cookie):  # socket.timeout: no answer in time
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from rtpengine")
        peer.wait_at_most(left)
    answer = bdecode(data[len(cookie) :])
    if not isinstance(answer, dict):
        raise OSError("rtpengine answer is not a dictionary")
    return answer


def ping(ng_addr: str, timeout: float = 1.0) -> bool:
    try:
        return command(ng_addr, {"command": "ping"}, timeout).get("result") == b"pong"
    except (OSError, ValueError):
        return False
