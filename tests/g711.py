"""G.711 for the sipp side of calls: the SDP lines that offer or answer it, and a tone as a
pcap that sipp plays (play_pcap_audio), so the sipp side sends real audio in the codec the
call negotiated (sipp's packaged sample is A-law only)."""

from __future__ import annotations

import struct
from pathlib import Path

from edgeops.moh import RATE, render

PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz


def sdp_audio(*codecs: str) -> str:
    """The m=audio line and rtpmaps of a sipp scenario's SDP ([media_port] is sipp's)."""
    types = " ".join(str(PAYLOAD_TYPES[c]) for c in codecs)
    return f"m=audio [media_port] RTP/AVP {types}" + "".join(f"\na=rtpmap:{PAYLOAD_TYPES[c]} {c}/8000" for c in codecs)


def _code(value: int, first_end: int, mask: int, offset: int) -> int:
    """G.711 code of a magnitude: segment k (0..7) ends at (first_end + 1) * 2**k - 1 and keeps
    4 bits of mantissa, shifted by k + offset (at least 1); beyond the last, the largest code."""
    segment = (value // (first_end + 1)).bit_length()
    if segment > 7:
        return 0x7F ^ mask
    return (segment << 4 | (value >> max(1, segment + offset)) & 0x0F) ^ mask


def ulaw(sample: int) -> int:
    """One 16-bit linear sample to G.711 mu-law (ITU-T G.711, 14-bit magnitude with bias 33)."""
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    return _code(min(abs(value), 8159) + 33, 0x3F, mask, offset=1)


def alaw(sample: int) -> int:
    """One 16-bit linear sample to G.711 A-law (13-bit magnitude)."""
    value = sample >> 3
    mask = 0xD5 if value >= 0 else 0x55
    return _code(value if value >= 0 else -value - 1, 0x1F, mask, offset=0)


def _packet(rtp: bytes, src_port: int = 6000, dst_port: int = 6002) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    checksum = sum(struct.unpack("!10H", header))
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    ip = header[:10] + struct.pack("!H", checksum) + header[12:]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + ip + udp


def tone_pcap(path: Path, codec: str = "PCMU", seconds: float = 10.0, hz: float = 800.0) -> Path:
    """Writes `seconds` of a steady tone as RTP packets (20 ms each) in a pcap file."""
    encode = ulaw if codec == "PCMU" else alaw
    pcm = render([(hz, seconds)], RATE)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet link type
    for seq, start in enumerate(range(0, len(samples) - SAMPLES_PER_PACKET + 1, SAMPLES_PER_PACKET)):
        payload = bytes(encode(s) for s in samples[start:start + SAMPLES_PER_PACKET])
        rtp = struct.pack("!BBHII", 0x80, PAYLOAD_TYPES[codec], seq, start, 0x7E57) + payload
        frame = _packet(rtp)
        usec = seq * 20000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path
