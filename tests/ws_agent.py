"""A small SIP-over-WebSocket agent for tests: registers with digest, answers one call, and can
vanish (drop its socket) the way a closed browser tab does."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading

import websocket


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else ""


def status_of(message: str) -> int:
    first = message.split("\r\n", 1)[0]
    return int(first.split()[1]) if first.startswith("SIP/2.0") else 0


class WsAgent:
    def __init__(self, url: str, ext: str, domain: str, password: str) -> None:
        self.ext, self.domain, self.password = ext, domain, password
        self.ws = websocket.create_connection(url, subprotocols=["sip"], timeout=10)
        self.host = f"{secrets.token_hex(4)}.invalid"
        self.contact = f"<sip:{ext}@{self.host};transport=ws>"
        self.call_id = secrets.token_hex(8)
        self.cseq = 0
        self.lock = threading.Lock()

    def _request(self, method: str, extra: str = "") -> str:
        self.cseq += 1
        return (
            f"{method} sip:{self.domain} SIP/2.0\r\n"
            f"Via: SIP/2.0/WS {self.host};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"From: <sip:{self.ext}@{self.domain}>;tag=reg{self.ext}\r\n"
            f"To: <sip:{self.ext}@{self.domain}>\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: {self.cseq} {method}\r\nMax-Forwards: 70\r\n"
            f"Contact: {self.contact}\r\nExpires: 300\r\n{extra}Content-Length: 0\r\n\r\n"
        )

    def recv(self) -> str:
        return self.ws.recv()

    def register(self) -> int:
        self.ws.send(self._request("REGISTER"))
        challenge = self.recv()
        if status_of(challenge) != 401:
            return status_of(challenge)
        auth = _header(challenge, "WWW-Authenticate")
        nonce = re.search(r'nonce="([^"]+)"', auth).group(1)  # type: ignore[union-attr]
        uri, cnonce, nc = f"sip:{self.domain}", secrets.token_hex(4), "00000001"
        ha1 = _md5(f"{self.ext}:{self.domain}:{self.password}")
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{_md5('REGISTER:' + uri)}")
        authorization = (
            f'Authorization: Digest username="{self.ext}", realm="{self.domain}", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}", algorithm=MD5\r\n'
        )
        self.ws.send(self._request("REGISTER", authorization))
        return status_of(self.recv())

    def next_request(self, method: str) -> str:
        """Waits for a request of `method`; others are absorbed."""
        while True:
            message = self.recv()
            if message.startswith(f"{method} "):
                return message

    def answer_next_invite(self, sdp: str = "") -> str:
        """Waits for an INVITE and answers it 200 with `sdp` (PCMU by default); returns its Call-ID."""
        message = self.next_request("INVITE")
        sdp = sdp or "v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
            "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        self.respond(message, "200 OK", f";tag={secrets.token_hex(4)}", sdp)
        return _header(message, "Call-ID")

    def respond(self, request: str, status: str, to_tag: str = "", sdp: str = "") -> None:
        copied = "".join(
            f"{line}\r\n" for line in request.split("\r\n")
            if re.match(r"^(Via|From|Call-ID|CSeq|Record-Route):", line, re.IGNORECASE)
        )
        body = f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}" if sdp \
            else "Content-Length: 0\r\n\r\n"
        to = _header(request, "To") + to_tag
        self.ws.send(f"SIP/2.0 {status}\r\n{copied}To: {to}\r\nContact: {self.contact}\r\n{body}")

    def answer_bye(self) -> str:
        """Waits for the BYE that ends the call (ACK and other requests are absorbed)."""
        while True:
            message = self.recv()
            if message.startswith("BYE "):
                self.respond(message, "200 OK")
                return _header(message, "Call-ID")

    def vanish(self) -> None:
        """Drop the TCP connection without a WebSocket close handshake, like a killed tab."""
        self.ws.sock.shutdown(2)
        self.ws.sock.close()
