"""Bad request bodies on the real admin listener (Kamailio xhttp): every one that fits
Kamailio's read buffer gets a JSON 4xx naming the problem, never a 500 or a closed connection."""

from __future__ import annotations

import json
import socket

import pytest

from kemi_app.admin.api import MAX_BODY
from tests.conftest import API_TOKEN

KAMAILIO_READ_BUFFER = 16384  # tcp_rd_buf_size: the most of one request Kamailio reads


def put(edge, body: bytes, content_type: str | None = "application/json") -> tuple[int, dict]:
    """A raw HTTP/1.1 PUT: the bytes go out exactly as given."""
    head = f"PUT /v1/orgs/bodies HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {API_TOKEN}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", edge.settings.admin_port), timeout=5) as s:
        answer = b""
        try:
            s.sendall(head.encode() + body)
            answer = read_answer(s)
        except ConnectionResetError:
            pass
    assert answer, "the edge closed the connection without an answer"
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.partition(b"\r\n\r\n")[2])


def read_answer(s: socket.socket) -> bytes:
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
        head_part, sep, rest = answer.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")]
        if sep and length and len(rest) >= length[0]:
            break
    return answer


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field", "says"),
    [
        (b"[" * 3000 + b"]" * 3000, "application/json", 400, "body", "nested too deeply"),
        (b'{"domain": "bodies.test", "name": "\xff\xfe"}', "application/json", 400, "body", "UTF-8"),
        (b'{"domain": "bodies.test", "name": "' + b"x" * MAX_BODY + b'"}', "application/json", 413, "body",
         "larger than"),
        (b'{"domain": "bodies.test"}', "text/plain", 415, "Content-Type", "application/json"),
        (b'{"domain": "bodies.test"}', None, 415, "Content-Type", "missing"),
    ],
    ids=["deeply-nested", "not-utf8", "too-large", "text-plain", "no-content-type"],
)
def test_bad_bodies_get_a_json_4xx(edge, body: bytes, content_type: str | None, status: int, field: str,
                                   says: str) -> None:
    got, payload = put(edge, body, content_type)
    assert (got, payload["field"]) == (status, field), payload
    assert says in payload["error"]


def test_json_with_a_charset_is_accepted(edge) -> None:
    status, org = put(edge, b'{"domain": "bodies.test"}', "application/json; charset=utf-8")
    assert status in (200, 201) and org["domain"] == "bodies.test"


def test_a_request_over_kamailios_buffer_is_dropped_and_the_api_goes_on(edge) -> None:
    """Documented limit: Kamailio closes the connection (nothing reaches Python); the
    declared limit below it is what gets the 413."""
    assert MAX_BODY + 4096 <= KAMAILIO_READ_BUFFER
    with pytest.raises(AssertionError, match="without an answer"):
        put(edge, b'{"name": "' + b"x" * KAMAILIO_READ_BUFFER + b'"}')
    assert put(edge, b'{"domain": "bodies.test"}')[0] in (200, 201)
