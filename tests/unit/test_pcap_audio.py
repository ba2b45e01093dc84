"""rtpengine pcaps to WAV: G.711 decoding, streams placed in time, mixing, Opus via libopus."""

from __future__ import annotations

import ctypes
import math
import struct
import wave
from array import array
from pathlib import Path

import pytest

from kemi_app.pcap_audio import ALAW, RATE, ULAW, OpusDecoder, convert, mix
from tests.g711 import alaw, ulaw


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def raw_ip(src_port: int, data: bytes) -> bytes:
    udp = struct.pack("!HHHH", src_port, 40000, 8 + len(data), 0) + data
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                       bytes([127, 0, 0, 1])) + udp


def pcap(packets: list[tuple[float, bytes]]) -> bytes:
    """A pcap like rtpengine's: raw IP (link type 101)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for at, frame in packets:
        out += struct.pack("<IIII", int(at), round((at % 1) * 1e6), len(frame), len(frame)) + frame
    return bytes(out)


def tone(hz: float, n: int, start: int = 0) -> list[int]:
    return [int(8000 * math.sin(2 * math.pi * hz * (start + i) / RATE)) for i in range(n)]


def test_g711_tables_invert_the_encoders() -> None:
    for sample in (-30000, -1000, -10, 0, 10, 1000, 30000):
        assert abs(ULAW[ulaw(sample)] - sample) <= max(8, abs(sample) // 16)
        assert abs(ALAW[alaw(sample)] - sample) <= max(16, abs(sample) // 16)


def test_two_parties_become_a_mixed_file_and_one_file_each(tmp_path: Path) -> None:
    packets = []
    for i in range(100):  # 2 s; the second party starts 0.5 s later and uses A-law
        at = 1000.0 + i * 0.02
        packets.append((at, raw_ip(5000, rtp(0, i, i * 160, 1, bytes(ulaw(s) for s in tone(400, 160, i * 160))))))
        if i >= 25:
            packets.append((at + 0.001, raw_ip(6000, rtp(8, i, i * 160, 2,
                                                         bytes(alaw(s) for s in tone(1000, 160, i * 160))))))
    packets.append((1000.5, raw_ip(5000, rtp(0, 200, 1, 1, b"")[:8])))  # not RTP: ignored
    (tmp_path / "c.pcap").write_bytes(pcap(packets))
    out = convert([tmp_path / "c.pcap"], tmp_path / "audio" / "att-r1")
    assert out.mixed.name == "att-r1.wav" and [p.name for p in out.parties] == ["att-r1-1.wav", "att-r1-2.wav"]
    assert abs(out.duration - 2.0) < 0.01
    with wave.open(str(out.parties[1])) as w:
        assert w.getframerate() == RATE
        second = array("h", w.readframes(w.getnframes()))
    assert max(abs(s) for s in second[:3900]) == 0  # silent until it starts, 0.5 s in
    assert max(abs(s) for s in second[4100:]) > 5000
    assert out.size == sum(p.stat().st_size for p in (out.mixed, *out.parties))


def test_mix_clips_instead_of_wrapping() -> None:
    assert list(mix([array("h", [30000, -30000, 5]), array("h", [30000, -30000])])) == [32767, -32768, 5]


def test_opus_is_decoded_at_8_khz() -> None:
    lib = ctypes.CDLL("libopus.so.0")
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int,
                                ctypes.c_char_p, ctypes.c_int32]
    err = ctypes.c_int()
    enc = lib.opus_encoder_create(48000, 1, 2048, ctypes.byref(err))  # VOIP
    decoder = OpusDecoder()
    decoded: list[int] = []
    for frame in range(20):
        pcm = (ctypes.c_int16 * 960)(*[int(8000 * math.sin(2 * math.pi * 440 * (frame * 960 + i) / 48000))
                                       for i in range(960)])
        buf = ctypes.create_string_buffer(1500)
        n = lib.opus_encode(enc, pcm, 960, buf, 1500)
        decoded += decoder.decode(buf.raw[:n])
    decoder.close()
    assert len(decoded) == 20 * 160
    assert max(abs(s) for s in decoded[1600:]) > 3000


def test_streams_it_cannot_decode_are_left_out(tmp_path: Path) -> None:
    g722 = [(1000.0 + i * 0.02, raw_ip(5000, rtp(9, i, i * 160, 1, b"\x11" * 160))) for i in range(10)]
    pcmu = [(1000.0 + i * 0.02, raw_ip(6000, rtp(0, i, i * 160, 2, bytes(ulaw(s) for s in tone(400, 160)))))
            for i in range(10)]
    (tmp_path / "g722.pcap").write_bytes(pcap(g722))
    with pytest.raises(ValueError):
        convert([tmp_path / "g722.pcap"], tmp_path / "x")
    (tmp_path / "both.pcap").write_bytes(pcap(g722 + pcmu))
    assert len(convert([tmp_path / "both.pcap"], tmp_path / "y").parties) == 1
