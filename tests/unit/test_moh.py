from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from edgeops import moh


def _wav(path: Path, samples: list[int], rate: int = moh.RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def _samples(path: Path) -> tuple[int, list[int]]:
    with wave.open(str(path), "rb") as w:
        raw = w.readframes(w.getnframes())
        return w.getframerate(), [s for (s,) in struct.iter_unpack("<h", raw)]


def test_waiting_track_is_music_for_the_given_seconds_then_the_announcement(tmp_path: Path) -> None:
    music = moh.ensure(tmp_path / "moh.wav")
    announcement = _wav(tmp_path / "please-hold.wav", [7] * 4000)  # half a second
    out = moh.waiting_track(music, announcement, 8, tmp_path / "queue-wait.wav")
    rate, samples = _samples(out)
    _, tune = _samples(music)
    seconds = 8 * moh.RATE
    assert len(tune) < seconds  # the tune is shorter: it is looped to fill the 8 s
    assert rate == moh.RATE and len(samples) == seconds + 4000
    assert samples[:seconds] == (tune * 2)[:seconds]
    assert samples[seconds:] == [7] * 4000


def test_waiting_track_refuses_a_rate_or_format_it_cannot_join(tmp_path: Path) -> None:
    music = moh.ensure(tmp_path / "moh.wav")
    with pytest.raises(ValueError, match="16000 Hz"):
        moh.waiting_track(music, _wav(tmp_path / "a.wav", [0] * 10, rate=16000), 3, tmp_path / "out.wav")
    with pytest.raises(ValueError, match="mono"):
        moh.waiting_track(music, _wav(tmp_path / "b.wav", [0] * 10, channels=2), 3, tmp_path / "out.wav")
