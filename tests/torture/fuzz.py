"""Seeded mutations of valid REGISTER, INVITE, OPTIONS and BYE requests for the fuzz test.

`messages(seed, count, via)` always yields the same messages for the same seed, so a failure
reproduces with `EDGE_FUZZ_SEED=<seed>`. Each message says whether it is still well formed
(it must then be answered) or may be dropped. Nothing here names an address outside
127.0.0.0/8, and no mutation can add a Route header: the edge has nowhere else to send them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SDP = (b"v=0\r\no=fuzz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

BASES = {
    "REGISTER": (b"REGISTER sip:demo.test SIP/2.0", b"<sip:1001@demo.test>", b"", b""),
    "INVITE": (b"INVITE sip:1002@demo.test SIP/2.0", b"<sip:1002@demo.test>",
               b"Content-Type: application/sdp\r\n", SDP),
    "OPTIONS": (b"OPTIONS sip:127.0.0.1 SIP/2.0", b"<sip:127.0.0.1>", b"", b""),
    "BYE": (b"BYE sip:1002@127.0.0.1 SIP/2.0", b"<sip:1002@demo.test>;tag=fuzz-callee", b"", b""),
}
NOT_UTF8 = (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x28\x8c\x28", b"\xed\xa0\x80", b"\xc0\xaf")
BAD_NUMBERS = (b"-1", b"99999999999999999999", b"0x10", b"", b"1.5", b"4294967296", b"abc", b"+7", b" 1 2")
NUMERIC = (b"CSeq", b"Content-Length", b"Max-Forwards", b"Expires")


@dataclass(frozen=True)
class Fuzzed:
    index: int
    data: bytes
    call_id: bytes
    mutation: str
    well_formed: bool


def base(method: str, call_id: bytes, via: bytes, rng: random.Random) -> bytes:
    line, to, extra, body = BASES[method]
    branch = b"z9hG4bK%x" % rng.getrandbits(48)
    return (line + b"\r\nVia: SIP/2.0/" + via + b";branch=" + branch + b";rport\r\n"
            b'From: "Agent 1001" <sip:1001@demo.test>;tag=fuzz%x\r\n' % rng.getrandbits(32)
            + b"To: " + to + b"\r\nCall-ID: " + call_id + b"\r\nCSeq: 1 " + method.encode()
            + b"\r\nMax-Forwards: 70\r\nContact: <sip:1001@127.0.0.1>\r\nExpires: 60\r\n"
            b"Subject: fuzz\r\nUser-Agent: edge-fuzz\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _lines(msg: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = msg.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def flip(msg: bytes, rng: random.Random) -> bytes:
    data = bytearray(msg)
    for _ in range(rng.randint(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(msg: bytes, rng: random.Random) -> bytes:
    return msg[: rng.randrange(1, len(msg))]


def duplicate(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _lines(msg)
    i = rng.randrange(1, len(lines))
    lines.insert(i, lines[i])
    return _join(lines, body)


def huge(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _lines(msg)
    i = rng.randrange(1, len(lines))
    lines[i] += b"x" * rng.choice((300, 4000, 20000, 60000))
    return _join(lines, body)


def bad_number(msg: bytes, rng: random.Random) -> bytes:
    lines, body = _lines(msg)
    name = rng.choice(NUMERIC)
    for i, line in enumerate(lines):
        if line.startswith(name + b":"):
            value = line.split(b":", 1)[1].strip().split(b" ", 1)
            lines[i] = name + b": " + b" ".join([rng.choice(BAD_NUMBERS), *value[1:]])
    return _join(lines, body)


def crlf(msg: bytes, rng: random.Random) -> bytes:
    """A header value carrying CR/LF: an injected header, a bare CR or LF, or an early body."""
    injected = rng.choice((b"\r\nX-Injected: yes", b"\r\n\r\nX-Body: yes", b"\rX-CR: 1", b"\nX-LF: 1"))
    return msg.replace(b"User-Agent: edge-fuzz", b"User-Agent: edge" + injected + b"-fuzz")


def not_utf8(msg: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(msg))
    return msg[:at] + rng.choice(NOT_UTF8) + msg[at:]


# Mutations that leave a well-formed message: it must be answered.
def benign_duplicate(msg: bytes, rng: random.Random) -> bytes:
    return msg.replace(b"Subject: fuzz\r\n", b"Subject: fuzz\r\nSubject: again\r\n" * rng.randint(1, 20))


def huge_value(msg: bytes, rng: random.Random) -> bytes:
    """Long, but within the 16 KB Kamailio reads of a TCP or WebSocket message (tcp_rd_buf_size)."""
    return msg.replace(b"User-Agent: edge-fuzz", b"User-Agent: edge-fuzz" + b"y" * rng.choice((1000, 4000, 12000)))


def not_utf8_display_name(msg: bytes, rng: random.Random) -> bytes:
    return msg.replace(b'"Agent 1001"', b'"Agent ' + rng.choice(NOT_UTF8) + b'1001"')


def not_utf8_subject(msg: bytes, rng: random.Random) -> bytes:
    return msg.replace(b"Subject: fuzz", b"Subject: fu" + rng.choice(NOT_UTF8) + b"zz")


def unchanged(msg: bytes, rng: random.Random) -> bytes:
    return msg


Mutation = Callable[[bytes, random.Random], bytes]
MALFORMING: list[Mutation] = [flip, truncate, duplicate, huge, bad_number, crlf, not_utf8]
KEEPING: list[Mutation] = [
    benign_duplicate, huge_value, not_utf8_display_name, not_utf8_subject, unchanged,
]


def messages(seed: int, count: int, via: Callable[[int], bytes], max_size: int = 65000) -> Iterator[Fuzzed]:
    """`count` messages; `via(n)` gives the Via sent-by (transport and address) of the n-th."""
    rng = random.Random(seed)
    for n in range(count):
        call_id = b"fuzz-%d-%d" % (seed, n)
        if rng.random() < 0.1:  # a Call-ID that is not UTF-8 (still a well-formed message)
            call_id += rng.choice(NOT_UTF8)
        msg = base(rng.choice(sorted(BASES)), call_id, via(n), rng)
        keep = rng.random() < 0.3
        mutate = rng.choice(KEEPING if keep else MALFORMING)
        yield Fuzzed(n, mutate(msg, rng)[:max_size], call_id, mutate.__name__, keep)
