"""rtpengine ng-protocol client (bencode over UDP): health pings, session deletes and queries.

Each process (and thread) keeps one socket per rtpengine and numbers its cookies after a
random prefix of its own: a delete per call costs no socket set-up and no urandom read.
Cookies stay unique across processes, as rtpengine's reply cache by cookie needs."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time


def bencode(value: object) -> bytes:
    if isinstance(value, bytes):
        return str(len(value)).encode() + b":" + value
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, bool):
        return bencode(int(value))
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
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


class _Channels(threading.local):
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.prefix = secrets.token_hex(4)
        self.numbers = itertools.count()
        self.sockets: dict[str, tuple[socket.socket, tuple[str, int]]] = {}


_channels = _Channels()


def _channel(ng_addr: str) -> tuple[_Channels, socket.socket, tuple[str, int]]:
    global _channels
    if _channels.pid != os.getpid():  # forked: the parent's sockets and cookies are not ours
        _channels = _Channels()
    known = _channels.sockets.get(ng_addr)
    if known is None:
        host, port = ng_addr.rsplit(":", 1)
        known = _channels.sockets[ng_addr] = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM), (host, int(port)))
    return _channels, *known


def command(ng_addr: str, cmd: dict[str, object], timeout: float = 1.0) -> dict[str, object]:
    """Sends one ng command and returns the decoded answer; raises OSError on no answer.
    A late answer to an earlier command that timed out is skipped by its cookie."""
    channels, s, address = _channel(ng_addr)
    cookie = f"{channels.prefix}{next(channels.numbers):x} ".encode()
    s.sendto(cookie + bencode(cmd), address)
    deadline = time.monotonic() + timeout
    while True:
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        data = s.recv(65535)
        if data.startswith(cookie):
            break
    answer = bdecode(data[len(cookie) :])
    if not isinstance(answer, dict):
        raise OSError("rtpengine answer is not a dictionary")
    return answer


def ping(ng_addr: str, timeout: float = 1.0) -> bool:
    try:
        return command(ng_addr, {"command": "ping"}, timeout).get("result") == b"pong"
    except (OSError, ValueError):
        return False
