"""Music on hold: a short tune the project generates itself (no media files in the repo)."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
# A slow arpeggio (Hz, seconds): pleasant enough, and clearly not silence or an echo.
TUNE = [(261.63, 0.4), (329.63, 0.4), (392.00, 0.4), (523.25, 0.8), (392.00, 0.4), (329.63, 0.4)] * 2


def render(tune: list[tuple[float, float]] = TUNE, rate: int = RATE) -> bytes:
    """16-bit mono PCM; each note fades in and out so the joins do not click."""
    frames = bytearray()
    for freq, seconds in tune:
        n = int(rate * seconds)
        fade = max(1, n // 10)
        for i in range(n):
            envelope = min(1.0, i / fade, (n - i) / fade)
            frames += struct.pack("<h", int(9000 * envelope * math.sin(2 * math.pi * freq * i / rate)))
    return bytes(frames)


def ensure(path: Path) -> Path:
    """Writes the tune to `path` unless a file is already there (an operator's own music)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, RATE, render())
    return path


def _write(path: Path, rate: int, frames: bytes) -> None:
    """16-bit mono, in place at once (rtpengine may be reading the old one)."""
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    tmp.replace(path)


def waiting_track(music: Path, announcement: Path, music_seconds: int, out: Path) -> Path:
    """Music for `music_seconds` (looped or cut), then the announcement: played in a loop it
    is music with a periodic announcement, no timer needed. Both WAVs must be 16-bit mono
    at the same rate."""
    with wave.open(str(music), "rb") as m, wave.open(str(announcement), "rb") as a:
        for track, name in ((m, music), (a, announcement)):
            if track.getnchannels() != 1 or track.getsampwidth() != 2:
                raise ValueError(f"{name}: 16-bit mono WAV expected")
        if m.getframerate() != a.getframerate():
            raise ValueError(f"{announcement}: {a.getframerate()} Hz, the music is {m.getframerate()} Hz")
        rate = m.getframerate()
        tune, spoken = m.readframes(m.getnframes()), a.readframes(a.getnframes())
    wanted = music_seconds * rate * 2
    looped = (tune * (wanted // max(1, len(tune)) + 1))[:wanted]
    _write(out, rate, looped + spoken)
    return out
