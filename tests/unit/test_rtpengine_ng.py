"""The ng client against a stand-in rtpengine on 127.0.0.1: bencode both ways, one socket
reused, and a late answer to a command that timed out never taken for the next one's."""

from __future__ import annotations

import socket
import threading

import pytest

from kemi_app.rtpengine_ng import bdecode, bencode, command


class FakeRtpengine:
    """Answers each command with {"result": "ok", "n": <its command's number>}; holds back the
    answer to the first until the second arrives (that first command has timed out by then)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sources: list[tuple[str, int]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        held: list[tuple[bytes, tuple[str, int]]] = []
        for _ in range(2):
            data, source = self.sock.recvfrom(65535)
            self.sources.append(source)
            held.append((data, source))
        for data, source in held:  # the stale answer first
            cookie, _, body = data.partition(b" ")
            cmd = bdecode(body)
            assert isinstance(cmd, dict)
            self.sock.sendto(cookie + b" " + bencode({"result": "ok", "n": cmd["n"]}), source)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def rtpengine():
    fake = FakeRtpengine()
    yield fake
    fake.close()


def test_a_late_answer_is_skipped_and_the_socket_reused(rtpengine) -> None:
    with pytest.raises(OSError):
        command(rtpengine.addr, {"command": "query", "n": 1}, timeout=0.05)
    assert command(rtpengine.addr, {"command": "query", "n": 2}, timeout=5) == {"result": b"ok", "n": 2}
    assert rtpengine.sources[0] == rtpengine.sources[1]


def test_bencode_round_trip() -> None:
    value = {"command": "offer", "flags": ["trust-address"], "n": 3, "sdp": b"v=0\r\n", "ICE": "remove"}
    assert bdecode(bencode(value)) == {"command": b"offer", "flags": [b"trust-address"], "n": 3, "sdp": b"v=0\r\n",
                                       "ICE": b"remove"}
