"""The fuzz run reproduces from its seed, and its well-formed messages really are well formed."""

from __future__ import annotations

import re

from tests.torture import fuzz


def via(n: int) -> bytes:
    return b"UDP 127.0.0.%d:9" % (2 + n % 40)


def test_the_same_seed_gives_the_same_messages() -> None:
    assert list(fuzz.messages(7, 300, via)) == list(fuzz.messages(7, 300, via))
    assert list(fuzz.messages(7, 300, via)) != list(fuzz.messages(8, 300, via))


def test_well_formed_messages_keep_their_framing_and_call_id() -> None:
    kept = [m for m in fuzz.messages(4475, 2000, via) if m.well_formed]
    assert len(kept) > 400
    for m in kept:
        head, _, body = m.data.partition(b"\r\n\r\n")
        length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        assert length == len(body)
        assert b"\r\nCall-ID: " + m.call_id + b"\r\n" in head
        assert len(m.data) < 16 * 1024  # what Kamailio reads of one TCP/WebSocket message


def test_no_mutation_adds_a_route() -> None:
    """The edge only relays along a Route: without one, a fuzzed request cannot leave loopback."""
    assert not any(b"\nRoute:" in m.data for m in fuzz.messages(4475, 3000, via))
