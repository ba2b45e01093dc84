"""The G.711 tone the sipp phones play: codes from the standard's tables, and a pcap that
sipp can read (Ethernet/IPv4/UDP frames of 20 ms RTP packets in the negotiated codec)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.g711 import alaw, sdp_audio, tone_pcap, ulaw


@pytest.mark.parametrize(("sample", "code"), [
    (0, 0xFF), (-1, 0x7E), (100, 0xF2), (-100, 0x72), (1000, 0xCE), (-1000, 0x4E), (32767, 0x80), (-32768, 0x00),
])
def test_mu_law_codes(sample: int, code: int) -> None:
    assert ulaw(sample) == code


@pytest.mark.parametrize(("sample", "code"), [
    (0, 0xD5), (-1, 0x55), (100, 0xD3), (-100, 0x53), (1000, 0xFA), (-1000, 0x7A), (32767, 0xAA), (-32768, 0x2A),
])
def test_a_law_codes(sample: int, code: int) -> None:
    assert alaw(sample) == code


def test_sdp_lines_name_each_codec() -> None:
    assert sdp_audio("PCMU") == "m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000"
    assert sdp_audio("PCMA", "PCMU").splitlines()[0] == "m=audio [media_port] RTP/AVP 8 0"


@pytest.mark.parametrize(("codec", "payload_type"), [("PCMU", 0), ("PCMA", 8)])
def test_tone_pcap_holds_20ms_rtp_packets_of_a_tone(tmp_path: Path, codec: str, payload_type: int) -> None:
    data = tone_pcap(tmp_path / "tone.pcap", codec, seconds=1).read_bytes()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, link) == (0xA1B2C3D4, 1)
    offset, packets = 24, []
    while offset < len(data):
        sec, usec, length, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + length]
        packets.append((sec * 1_000_000 + usec, frame[14 + 20 + 8:]))  # Ethernet, IPv4, UDP headers
        offset += 16 + length
    assert len(packets) == 50
    assert [t for t, _ in packets[:3]] == [0, 20000, 40000]
    first, second = packets[0][1], packets[1][1]
    assert first[1] == payload_type and len(first) == 12 + 160
    assert struct.unpack("!HI", second[2:8]) == (1, 160)  # sequence number and timestamp
    assert len(set(packets[10][1][12:])) >= 4  # a waveform, not one repeated (silent) code
