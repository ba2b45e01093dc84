"""History off the SIP workers' path: a process hands its history writes (attendances, events,
recent lists: state/attendance.py) to a shared-memory queue (mqueue) without touching Redis,
and the history writer, an rtimer process of its own, sends what gathered every 20 ms in one
script call, in the order the writes were queued. A hand-over is already encoded
(attendance.Writes: its age cut, its writes' JSON, its keys), so the writer only splits it and
joins the pieces: it never decodes nor re-encodes the writes.

Each hand-over is numbered (htable `history`: `seq`); the writer records the number it has
written up to (`done`). A read a decision or the API relies on waits, bounded, until `done`
reaches the number it saw (settle), and the launcher waits the same way before it stops
Kamailio (edgeops/stack.py), so a clean stop loses nothing. A full queue never blocks a
worker: it writes to Redis itself."""

from __future__ import annotations

import json
import time

import KSR
import redis

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.sip.context import Context, pv
from kemi_app.state.attendance import Writes

QUEUE = "history"  # kamailio.cfg: its mqueue, its rtimer process and its htable
TABLE = "history"
SEQ, DONE = "seq", "done"
QUEUE_LIMIT = 50_000  # below the mqueue's size (which would drop the oldest): beyond it, write directly
BATCH = 500  # hand-overs per script call
BATCHES_PER_RUN = 20  # one run never holds the process for long
SETTLE_SECONDS = 0.5
SETTLE_STEP = 0.002
LOG_EVERY = 5.0  # seconds between two logs of the same failure
_WRAP = 1 << 32  # htable values are C ints: the numbers wrap


def _number(item: str) -> int:
    value = KSR.htable.sht_get(TABLE, item)
    return int(value) if isinstance(value, int) else 0


def behind(done: int, target: int) -> bool:
    """Has the writer not yet written hand-over `target`? (numbers that wrap around)"""
    return 0 < (target - done) % _WRAP < _WRAP // 2


# A hand-over is one mqueue value: the age cut, the writes' JSON (no raw newline in JSON), then
# the keys one per line; as a JSON array (every edge key starts with "edge:", never "[") when a
# key holds a newline of its own (a folded Call-ID).
def _joined(keys: list[str]) -> str:
    text = "\n".join(keys)
    return text if text.count("\n") == len(keys) - 1 else json.dumps(keys, ensure_ascii=False)


def _split(text: str) -> list[str]:
    return json.loads(text) if text.startswith("[") else text.split("\n")


class HistoryQueue:
    """state.attendance.HistorySink for a Kamailio process."""

    def put(self, writes: Writes) -> bool:
        if KSR.mqueue.mq_size(QUEUE) >= QUEUE_LIMIT:
            metrics.history_overflow()
            return False
        seq = KSR.htable.sht_inc(TABLE, SEQ)
        KSR.mqueue.mq_add(QUEUE, str(seq), f"{writes.minid}\n{writes.json}\n{_joined(writes.keys)}")
        return True

    def settle(self) -> None:
        target = _number(SEQ)
        deadline = time.monotonic() + SETTLE_SECONDS
        while behind(_number(DONE), target) and time.monotonic() < deadline:
            time.sleep(SETTLE_STEP)


class Writer:
    """The writer process's state: writes fetched but not yet in Redis (it was down) go first
    next run, so their order holds."""

    def __init__(self) -> None:
        self.pending: list[Writes] = []
        self.last = 0  # hand-over number of the newest pending write
        self.logged = 0.0

    def run(self, ctx: Context) -> None:
        """rtimer route: everything queued since the last run, in batches of one script call each."""
        for _ in range(BATCHES_PER_RUN):
            while len(self.pending) < BATCH and KSR.mqueue.mq_fetch(QUEUE) > 0:
                minid, writes, keys = pv(f"$mqv({QUEUE})").split("\n", 2)
                self.pending.append(Writes(_split(keys), writes, minid))
                self.last = int(pv(f"$mqk({QUEUE})"))
            if not self.pending:
                return
            try:
                ctx.state.history.write_batch(self.pending)
            except (redis.ConnectionError, redis.TimeoutError, DependencyDown) as e:
                self._log(f"history not written yet, Redis unavailable: {e!r}")
                return  # kept for the next run
            except Exception as e:  # a batch Redis refuses would block every later one
                metrics.route_exception("history")
                KSR.err(f"history batch of {len(self.pending)} write(s) dropped: {e!r}\n")
            self.pending = []
            KSR.htable.sht_seti(TABLE, DONE, self.last)

    def _log(self, text: str) -> None:
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY:
            self.logged = now
            KSR.err(f"{text}\n")
