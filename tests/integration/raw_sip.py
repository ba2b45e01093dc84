"""A tiny raw SIP client over UDP for the security tests: exact bytes, any source address,
digest answers computed here (so a captured Authorization can be replayed as is)."""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from dataclasses import dataclass

from kemi_app.policy.digest import credential_params


@dataclass
class Response:
    status: int
    raw: str

    def header(self, name: str) -> str:
        m = re.search(rf"^{re.escape(name)}:\s*(.*)$", self.raw, re.M | re.I)
        return m.group(1).strip() if m else ""


class RawSip:
    def __init__(self, edge: tuple[str, int], local_ip: str = "127.0.0.1") -> None:
        self.edge = edge
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.local = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str) -> None:
        self.sock.sendto(text.replace("\n", "\r\n").encode(), self.edge)

    def final(self, timeout: float = 2.0) -> Response | None:
        """The next final (non-1xx) response, or None."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65535).decode(errors="replace")
                status = int(data.split(" ", 2)[1])
                if status >= 200:
                    return Response(status, data)
        except TimeoutError:
            return None

    def request(self, method: str, ruri: str, user: str, domain: str, *, call_id: str = "", cseq: int = 1,
                to_tag: str = "", extra: str = "", contact_port: int | None = None) -> str:
        """A request's text; `extra` holds more header lines (each ending in a newline)."""
        host, port = self.local
        to = f"<sip:{user}@{domain}>" + (f";tag={to_tag}" if to_tag else "")
        return (
            f"{method} {ruri} SIP/2.0\n"
            f"Via: SIP/2.0/UDP {host}:{port};rport;branch=z9hG4bK{uuid.uuid4().hex[:16]}\n"
            f"From: <sip:{user}@{domain}>;tag={uuid.uuid4().hex[:8]}\n"
            f"To: {to}\n"
            f"Call-ID: {call_id or uuid.uuid4().hex}\n"
            f"CSeq: {cseq} {method}\n"
            f"Contact: <sip:{user}@{host}:{contact_port or port}>\n"
            "Max-Forwards: 70\n"
            f"{extra}"
            "Content-Length: 0\n\n"
        )


def authorization(challenge: str, method: str, uri: str, user: str, password: str, nc: int = 1) -> str:
    """The value answering a WWW-/Proxy-Authenticate challenge (qop=auth)."""
    p = credential_params(challenge)
    realm, nonce = p["realm"], p["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce, count = uuid.uuid4().hex[:8], f"{nc:08x}"
    response = hashlib.md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc={count}')


def listener(ip: str = "127.0.0.5") -> socket.socket:
    """A UDP socket standing for an outside host: the edge must never send it anything."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    s.settimeout(0.5)
    return s


def heard(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65535)
    except TimeoutError:
        return b""
