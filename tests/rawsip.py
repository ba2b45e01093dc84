"""Raw SIP bytes to a test edge over UDP, TCP and WebSocket, for the torture and fuzz tests.

Messages are bytes (they may be broken on purpose); answers are matched by Call-ID. Only
loopback addresses are ever used: a source can be any 127.0.0.x, so a run can spread its
traffic over several sources.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import websocket

CALL_ID = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")


def status_of(response: bytes) -> int:
    found = STATUS.match(response)
    return int(found.group(1)) if found else 0


def call_id_of(message: bytes) -> bytes:
    found = CALL_ID.search(message.split(b"\r\n\r\n", 1)[0])
    return found.group(1) if found else b""


def split_stream(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete messages at the front of a TCP stream, and the rest."""
    out = []
    while b"\r\n\r\n" in buffer:
        head, rest = buffer.split(b"\r\n\r\n", 1)
        length = re.search(rb"^(?:Content-Length|l)[ \t]*:[ \t]*(\d+)", head, re.IGNORECASE | re.MULTILINE)
        size = int(length.group(1)) if length else 0
        if len(rest) < size:
            break
        out.append(head + b"\r\n\r\n" + rest[:size])
        buffer = rest[size:]
    return out, buffer


@dataclass
class Answers:
    """Responses received, by Call-ID."""

    by_call: dict[bytes, list[bytes]] = field(default_factory=dict)

    def add(self, message: bytes) -> None:
        if status_of(message):
            self.by_call.setdefault(call_id_of(message), []).append(message)

    def final(self, call_id: bytes) -> int | None:
        """The last final status; 0 if only provisional answers came, None if nothing came."""
        got = self.by_call.get(call_id)
        if got is None:
            return None
        finals = [s for s in map(status_of, got) if s >= 200]
        return finals[-1] if finals else 0


class Udp:
    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.setblocking(False)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data[:65000], self.target)

    def drain(self, answers: Answers) -> None:
        while True:
            try:
                answers.add(self.sock.recv(65535))
            except BlockingIOError:
                return

    def close(self) -> None:
        self.sock.close()


class Tcp:
    """One connection per message: a broken message cannot spoil the next one's framing."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port, self.source = port, source
        self.open: list[tuple[socket.socket, bytearray, float]] = []

    def send(self, data: bytes) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=(self.source, 0))
        sock.sendall(data)
        sock.setblocking(False)
        self.open.append((sock, bytearray(), time.monotonic()))

    def drain(self, answers: Answers) -> None:
        for sock, buffer, _ in self.open:
            while True:
                try:
                    chunk = sock.recv(65535)
                except (BlockingIOError, ConnectionError):
                    break
                if not chunk:
                    break
                buffer += chunk
            messages, rest = split_stream(bytes(buffer))
            buffer[:] = rest
            for message in messages:
                answers.add(message)

    def close(self, older_than: float = 0) -> None:
        """Closes the connections opened more than `older_than` seconds ago."""
        now = time.monotonic()
        for sock, _, opened in self.open:
            if now - opened >= older_than:
                sock.close()
        self.open = [c for c in self.open if now - c[2] < older_than]


class Ws:
    """One WebSocket connection (subprotocol sip) carrying every message as a text frame."""

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/"
        self.ws = websocket.create_connection(self.url, subprotocols=["sip"], timeout=5)

    def send(self, data: bytes) -> None:
        # A SIP message is one text frame; bytes that are not UTF-8 go as a binary frame.
        try:
            self.ws.send(data.decode())
        except UnicodeDecodeError:
            self.ws.send_binary(data)

    def drain(self, answers: Answers) -> None:
        while self.ws.sock is not None and select.select([self.ws.sock], [], [], 0)[0]:
            try:
                frame = self.ws.recv()
            except (websocket.WebSocketException, OSError):
                self.ws.close()  # closed by the edge: sending on it now raises
                return
            answers.add(frame.encode() if isinstance(frame, str) else frame)

    def close(self) -> None:
        self.ws.close()


def wait_for(answers: Answers, transports: Iterable[Udp | Tcp | Ws], call_ids: set[bytes], seconds: float) -> None:
    """Collects answers until every one of `call_ids` has a final status, or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for transport in transports:
            transport.drain(answers)
        if all(answers.final(c) for c in call_ids):
            return
        time.sleep(0.02)


def exchange(transport: Udp | Tcp | Ws, message: bytes, seconds: float = 3.0) -> int | None:
    """Sends one message; its final status, 0 if only provisional answers came, None if none."""
    answers = Answers()
    transport.send(message)
    wait_for(answers, [transport], {call_id_of(message)}, seconds)
    return answers.final(call_id_of(message))


def authorised(transport: Udp | Tcp | Ws, message: bytes, user: str, password: str, seconds: float = 3.0) -> int | None:
    """Sends `message` (which must contain the line `Authorization: AUTH`), answers the
    digest challenge and returns the final status of the authenticated request (or the first
    answer's, when that is no challenge)."""
    answers = Answers()
    call_id = call_id_of(message)
    transport.send(message.replace(b"Authorization: AUTH\r\n", b""))
    wait_for(answers, [transport], {call_id}, seconds)
    if answers.final(call_id) not in (401, 407):
        return answers.final(call_id)
    challenge = answers.by_call.pop(call_id)[-1]
    realm = re.search(rb'realm="([^"]+)"', challenge).group(1)  # type: ignore[union-attr]
    nonce = re.search(rb'nonce="([^"]+)"', challenge).group(1)  # type: ignore[union-attr]
    header = b"Proxy-Authorization" if status_of(challenge) == 407 else b"Authorization"
    method, uri = message.split(b" ", 2)[:2]
    cnonce, nc = secrets.token_hex(4).encode(), b"00000001"
    ha1 = _md5(b"%s:%s:%s" % (user.encode(), realm, password.encode()))
    response = _md5(b":".join((ha1, nonce, nc, cnonce, b"auth", _md5(method + b":" + uri))))
    auth = (b'%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            b'qop=auth, nc=%s, cnonce="%s", algorithm=MD5\r\n') % (
        header, user.encode(), realm, nonce, uri, response, nc, cnonce)
    second = re.sub(rb"CSeq: (\d+)", lambda m: b"CSeq: %d" % (int(m.group(1)) + 1), message, count=1)
    transport.send(second.replace(b"Authorization: AUTH\r\n", auth))
    wait_for(answers, [transport], {call_id}, seconds)
    return answers.final(call_id)


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).hexdigest().encode()


def log_since(path: Path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def workers(main_pid: int) -> set[int]:
    """Kamailio's child processes (SIP, TCP, timer and RPC workers)."""
    return {int(p) for p in Path(f"/proc/{main_pid}/task/{main_pid}/children").read_text().split()}
