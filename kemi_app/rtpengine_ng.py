"""rtpengine ng-protocol client (bencode over UDP): health pings, session deletes and queries."""

from __future__ import annotations

import secrets
import socket


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


def command(ng_addr: str, cmd: dict[str, object], timeout: float = 1.0) -> dict[str, object]:
    """Sends one ng command and returns the decoded answer; raises OSError on no answer."""
    host, port = ng_addr.rsplit(":", 1)
    cookie = secrets.token_hex(6).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(cookie + b" " + bencode(cmd), (host, int(port)))
        data = s.recv(65535)
    if not data.startswith(cookie + b" "):
        raise OSError("rtpengine answered with another cookie")
    answer = bdecode(data[len(cookie) + 1 :])
    if not isinstance(answer, dict):
        raise OSError("rtpengine answer is not a dictionary")
    return answer


def ping(ng_addr: str, timeout: float = 1.0) -> bool:
    try:
        return command(ng_addr, {"command": "ping"}, timeout).get("result") == b"pong"
    except (OSError, ValueError):
        return False
