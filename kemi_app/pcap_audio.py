"""rtpengine's pcap recordings to WAV files a person can play: both parties mixed, and one
file per party. No Kamailio, no Redis: a file in, files out.

rtpengine (recording-method=pcap) writes every RTP packet it receives on a recorded call
into a pcap with raw IP headers (link type 101). Each party is one RTP stream (source address
and SSRC): G.711 is decoded here, Opus through Debian's libopus (the library rtpengine
itself links). A stream is placed in time by its first packet's arrival and then by its
RTP timestamps, as a jitter buffer would; the mix starts at the first packet of any party.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import wave
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8000  # output sample rate: telephone audio
PCMU, PCMA = 0, 8
OPUS_CLOCK = 48000
MAX_OPUS_FRAME = 5760  # 120 ms at 48 kHz, the longest Opus packet
LINKTYPE_RAW, LINKTYPE_ETHERNET = 101, 1


def _ulaw(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


ULAW = [_ulaw(c) for c in range(256)]
ALAW = [_alaw(c) for c in range(256)]


class OpusDecoder:
    """libopus through ctypes: one decoder per stream, decoding straight to 8 kHz mono."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("opus") or "libopus.so.0"
        self.lib = ctypes.CDLL(name)
        self.lib.opus_decoder_create.restype = ctypes.c_void_p
        self.lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        self.lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                         ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int]
        self.lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        err = ctypes.c_int()
        self.state = self.lib.opus_decoder_create(RATE, 1, ctypes.byref(err))
        if err.value != 0 or not self.state:
            raise OSError(f"libopus decoder: error {err.value}")
        self.buf = (ctypes.c_int16 * (MAX_OPUS_FRAME * RATE // OPUS_CLOCK))()

    def decode(self, payload: bytes) -> list[int]:
        n = self.lib.opus_decode(self.state, payload, len(payload), self.buf, len(self.buf), 0)
        return list(self.buf[:n]) if n > 0 else []

    def close(self) -> None:
        self.lib.opus_decoder_destroy(self.state)


@dataclass
class Stream:
    """One party's RTP: (arrival time, payload type, RTP timestamp, payload) per packet."""

    key: tuple[str, int, int]  # source address, port, SSRC
    packets: list[tuple[float, int, int, bytes]] = field(default_factory=list)

    def payload_type(self) -> int:
        """The audio codec: the most used type (telephone-event and comfort noise are few)."""
        counts: dict[int, int] = {}
        for _, pt, _, _ in self.packets:
            counts[pt] = counts.get(pt, 0) + 1
        return max(counts, key=lambda pt: counts[pt])


def read_pcap(data: bytes) -> Iterator[tuple[float, str, int, bytes]]:
    """(time, source address, source port, UDP payload) of each UDP packet over IPv4/IPv6."""
    if len(data) < 24:
        return
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    skip = 14 if linktype == LINKTYPE_ETHERNET else 0
    i = 24
    while i + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[i:i + 16])
        frame = data[i + 16:i + 16 + caplen][skip:]
        i += 16 + caplen
        at = sec + frac / (1e9 if nano else 1e6)
        if frame and frame[0] >> 4 == 4 and len(frame) >= 20 and frame[9] == 17:
            ihl = (frame[0] & 0x0F) * 4
            src = ".".join(str(b) for b in frame[12:16])
            udp = frame[ihl:]
        elif frame and frame[0] >> 4 == 6 and len(frame) >= 40 and frame[6] == 17:
            src = frame[8:24].hex()
            udp = frame[40:]
        else:
            continue
        if len(udp) >= 8:
            yield at, src, struct.unpack("!H", udp[:2])[0], udp[8:]


def rtp_streams(data: bytes) -> list[Stream]:
    streams: dict[tuple[str, int, int], Stream] = {}
    for at, src, port, rtp in read_pcap(data):
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        pt = rtp[1] & 0x7F
        if 72 <= pt <= 76:  # RTCP multiplexed on the RTP port
            continue
        ts, ssrc = struct.unpack("!II", rtp[4:12])
        start = 12 + 4 * (rtp[0] & 0x0F)
        if rtp[0] & 0x10 and len(rtp) >= start + 4:  # header extension
            start += 4 + 4 * struct.unpack("!H", rtp[start + 2:start + 4])[0]
        end = len(rtp) - (rtp[-1] if rtp[0] & 0x20 else 0)  # padding
        key = (src, port, ssrc)
        streams.setdefault(key, Stream(key)).packets.append((at, pt, ts, rtp[start:end]))
    return list(streams.values())


def decodable(pt: int) -> bool:
    """G.711, and dynamic types taken as Opus, the codec browsers send (rtpengine's recordings
    carry no SDP to say otherwise). Other static types (G.722, G.729) are left out."""
    return pt in (PCMU, PCMA) or pt >= 96


def _decoder(pt: int) -> tuple[Callable[[bytes], list[int]], int, Callable[[], None]]:
    """(decode, RTP clock rate, close) for a decodable payload type."""
    if pt == PCMU:
        return (lambda p: [ULAW[b] for b in p]), RATE, lambda: None
    if pt == PCMA:
        return (lambda p: [ALAW[b] for b in p]), RATE, lambda: None
    opus = OpusDecoder()
    return opus.decode, OPUS_CLOCK, opus.close


def decode(stream: Stream, t0: float) -> array:
    """The stream's audio on the mix's time line (16-bit samples at RATE from `t0`)."""
    pt = stream.payload_type()
    decode_one, clock, close = _decoder(pt)
    out = array("h")
    first_at, _, first_ts, _ = stream.packets[0]
    base = round((first_at - t0) * RATE)
    try:
        for _, ptype, ts, payload in stream.packets:
            if ptype != pt or not payload:
                continue
            samples = decode_one(payload)
            at = base + ((ts - first_ts) % 2**32) * RATE // clock
            if at > len(out):
                out.extend([0] * (at - len(out)))
            out[at:at + len(samples)] = array("h", samples)
    finally:
        close()
    return out


def mix(tracks: list[array]) -> array:
    length = max((len(t) for t in tracks), default=0)
    out = array("h", bytes(2 * length))
    for track in tracks:
        for i, s in enumerate(track):
            v = out[i] + s
            out[i] = 32767 if v > 32767 else -32768 if v < -32768 else v
    return out


def write_wav(path: Path, samples: array) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


@dataclass(frozen=True)
class Converted:
    mixed: Path
    parties: tuple[Path, ...]
    duration: float  # seconds

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in (self.mixed, *self.parties))


def convert(pcaps: list[Path], out_base: Path) -> Converted:
    """`out_base`.wav (both parties) and `out_base`-1.wav, -2.wav ... (one per party, in
    order of their first packet). Raises ValueError when the pcaps hold no audio it decodes."""
    streams = [s for s in rtp_streams(b"".join(_bodies(pcaps))) if s.packets and decodable(s.payload_type())]
    if not streams:
        raise ValueError("no decodable RTP in the recording")
    streams.sort(key=lambda s: s.packets[0][0])
    t0 = streams[0].packets[0][0]
    tracks = [decode(s, t0) for s in streams]
    out_base.parent.mkdir(parents=True, exist_ok=True)
    mixed = out_base.with_name(out_base.name + ".wav")
    write_wav(mixed, mix(tracks))
    parties = []
    for i, track in enumerate(tracks, 1):
        party = out_base.with_name(f"{out_base.name}-{i}.wav")
        write_wav(party, track)
        parties.append(party)
    return Converted(mixed, tuple(parties), max(len(t) for t in tracks) / RATE)


def _bodies(pcaps: list[Path]) -> Iterator[bytes]:
    """One pcap's header, then the packets of every file (rtpengine writes them alike)."""
    for i, path in enumerate(pcaps):
        data = path.read_bytes()
        yield data if i == 0 else data[24:]
