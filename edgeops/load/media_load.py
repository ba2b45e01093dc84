"""Media capacity of rtpengine: N concurrent G.711 calls set up over the ng protocol exactly
as the edge does (offer from one leg, answer from the other), RTP at 50 packets/s in both
directions, packet loss counted at the receivers.

Leg A sends PCMU to the port rtpengine gave it in the answer, leg B to the port of the
offer. In transcode mode leg B is offered Opus only, so rtpengine encodes PCMU to Opus
towards B; B echoes every Opus packet back and rtpengine decodes it to PCMU towards A.
Each leg runs in its own process so the generator is not what limits the measurement.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import select
import socket
import struct
import threading
import time
import uuid

from edgeops.load.procs import Component, cpu_seconds, machine_busy_seconds, memory_bytes
from edgeops.load.ramp import StepResult
from kemi_app.rtpengine_ng import command

PTIME = 0.02
PAYLOAD = bytes(os.urandom(160))  # 20 ms of PCMU; noise, so no codec can skip it as silence
MAX_LOSS = 0.005
WARMUP = 0.5  # rtpengine learns each endpoint from its first packets: not counted
GAP = 0.1
WARMUP_TICKS = round(WARMUP / PTIME)
SO_RCVBUFFORCE = 33


def sdp(port: int, opus: bool) -> str:
    codec = "m=audio {p} RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n" if opus else \
        "m=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    return ("v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            + codec.format(p=port) + "a=ptime:20\r\na=sendrecv\r\n")


def media_port(answer: dict[str, object]) -> int:
    text = answer.get("sdp", b"")
    text = text.decode() if isinstance(text, bytes) else str(text)
    found = re.search(r"^m=audio (\d+) ", text, re.M)
    if not found:
        raise RuntimeError(f"rtpengine answered without media: {answer.get('result')!r} {answer.get('error-reason')!r}")
    return int(found.group(1))


def _socket(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 * 1024 * 1024)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s


def leg(port: int, targets: list[int], start: float, seconds: float, echo: bool, relayed: bool,
        ssrc_base: int, out: mp.Queue) -> None:
    """Sends one packet per call every 20 ms (or echoes what arrives) from `start` (a shared
    monotonic time): a warm-up, a gap, then `seconds` that count. Relayed packets keep their
    sequence number, so the receiver counts those sent after the warm-up exactly; echoed
    (transcoded) ones are renumbered, and count when they arrive after the middle of the
    gap. Reports (port, sent, received)."""
    s = _socket(port)
    buf = bytearray(2048)
    sent = received = 0
    seq = [0] * len(targets)
    warmup_end = start + WARMUP
    count_sent_from = warmup_end + GAP
    count_received_from = warmup_end + GAP / 2
    stop_sending = count_sent_from + seconds
    stop_receiving = stop_sending + 0.5
    next_tick = start
    while True:
        now = time.monotonic()
        if now >= stop_receiving:
            break
        if not echo and warmup_end <= next_tick < count_sent_from:
            next_tick = count_sent_from
        if not echo and next_tick <= now < stop_sending:
            for i, dest in enumerate(targets):
                header = struct.pack("!BBHII", 0x80, 0, seq[i] & 0xFFFF, (seq[i] * 160) & 0xFFFFFFFF, ssrc_base + i)
                try:
                    s.sendto(header + PAYLOAD, ("127.0.0.1", dest))
                    sent += seq[i] >= WARMUP_TICKS
                except BlockingIOError:
                    pass
                seq[i] += 1
            next_tick += PTIME
        wait = max(0.0, min(next_tick, stop_receiving) - time.monotonic()) if not echo else 0.05
        ready, _, _ = select.select([s], [], [], wait)
        if not ready:
            continue
        while True:
            try:
                n, addr = s.recvfrom_into(buf)
            except BlockingIOError:
                break
            now = time.monotonic()
            if relayed:
                received += struct.unpack_from("!H", buf, 2)[0] >= WARMUP_TICKS
            else:
                received += now >= count_received_from
            if echo:  # until the end of the drain: what A sent last must come back too
                try:
                    s.sendto(bytes(buf[:n]), addr)
                    sent += now >= count_received_from
                except BlockingIOError:
                    pass
    s.close()
    out.put((port, sent, received))


class MediaLoad:
    def __init__(self, ng: str, port_base: int, transcode: bool) -> None:
        self.ng = ng
        self.port_a = port_base
        self.port_b = port_base + 2
        self.transcode = transcode

    def _setup(self, calls: int) -> tuple[list[str], list[int], list[int]]:
        ids: list[str] = []
        try:
            return self._offer_answer(calls, ids)
        except Exception:
            self._delete(ids)  # a step that could not start leaves no sessions behind
            raise

    def _delete(self, ids: list[str]) -> None:
        for cid in ids:
            command(self.ng, {"command": "delete", "call-id": cid, "from-tag": "a"}, timeout=2.0)

    def _offer_answer(self, calls: int, ids: list[str]) -> tuple[list[str], list[int], list[int]]:
        to_a, to_b = [], []
        extra: dict[str, object] = {"codec": {"mask": ["PCMU"], "transcode": ["opus"]}} if self.transcode else {}
        for _ in range(calls):
            cid = f"load-media-{uuid.uuid4().hex}"
            ids.append(cid)
            offer = command(self.ng, {
                "command": "offer", "call-id": cid, "from-tag": "a", "sdp": sdp(self.port_a, False),
                "flags": ["trust-address"], "replace": ["origin", "session-connection"], "ICE": "remove", **extra,
            }, timeout=2.0)
            to_b.append(media_port(offer))
            answer = command(self.ng, {
                "command": "answer", "call-id": cid, "from-tag": "a", "to-tag": "b",
                "sdp": sdp(self.port_b, self.transcode), "flags": ["trust-address"],
                "replace": ["origin", "session-connection"], "ICE": "remove",
            }, timeout=2.0)
            to_a.append(media_port(answer))
        return ids, to_a, to_b

    def step(self, calls: int, seconds: float, components: list[Component]) -> StepResult:
        ids, to_a, to_b = self._setup(calls)
        try:
            pids = {c.name: c.pids() for c in components}
            peak = {name: 0 for name in pids}
            before = {name: cpu_seconds(p) for name, p in pids.items()}
            busy_before = machine_busy_seconds()
            ctx = mp.get_context("fork")
            queue: mp.Queue = ctx.Queue()
            start = time.monotonic() + 0.2  # both legs tick from the same instant
            legs = [
                ctx.Process(target=leg, args=(self.port_a, to_a, start, seconds, False, not self.transcode,
                                              0x10000, queue)),
                ctx.Process(target=leg, args=(self.port_b, to_b, start, seconds, self.transcode, not self.transcode,
                                              0x20000, queue)),
            ]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.5):
                    for name, p in pids.items():
                        peak[name] = max(peak[name], memory_bytes(p))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            for p in legs:
                p.start()
            reports = [queue.get(timeout=seconds + 30) for _ in legs]
            counts = {port: (sent, received) for port, sent, received in reports}
            for p in legs:
                p.join(10)
            elapsed = time.monotonic() - start
            done.set()
            sampler.join()
            cpu = {name: cpu_seconds(p) - before[name] for name, p in pids.items()}
            busy = machine_busy_seconds() - busy_before
        finally:
            self._delete(ids)
        sent_a, recv_a = counts[self.port_a]
        sent_b, recv_b = counts[self.port_b]
        # Echo mode: B only returns what it got, so A's count alone tells the round trip.
        sent, received = (sent_a, recv_a) if self.transcode else (sent_a + sent_b, recv_a + recv_b)
        rtp_cores = cpu.get("rtpengine", 0.0) / (seconds + WARMUP)  # the drain carries no traffic
        return StepResult(
            rate=calls, seconds=seconds, created=sent, succeeded=received, failed=max(0, sent - received),
            cpu=cpu, peak_memory=peak, target_per_second=calls * (1 if self.transcode else 2) / PTIME,
            max_failure_ratio=MAX_LOSS,
            extra={"wall_seconds": round(elapsed, 2), "rtpengine_cores": round(rtp_cores, 3),
                   "machine_busy_cores": round(busy / elapsed, 2),
                   "calls_per_core": round(calls / rtp_cores, 1) if rtp_cores else 0.0,
                   "sent_a": sent_a, "received_a": recv_a, "sent_b": sent_b, "received_b": recv_b},
        )
