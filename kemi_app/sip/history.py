"""History off the SIP workers' path: a process hands its history writes (attendances, events,
recent lists: state/attendance.py) and its dialog events' agents' side (calls in progress,
queue state: state/dialogevents.py) to a shared-memory queue (mqueue) without touching Redis,
and the history writer, an rtimer process of its own, sends what gathered every 20 ms in one
script call, in the order the writes were queued; then it stops the supervision and recording
of the calls that ended (sip/dialogs.py call_over). A hand-over is already encoded
(attendance.Writes: its age cut, its writes' JSON, its keys), so the writer only splits it and
joins the pieces: it never decodes nor re-encodes the writes.

Each hand-over is numbered (htable `history`: `seq`); the writer records the number it has
written up to (`done`). A read a decision or the API relies on waits, bounded, until `done`
reaches the number it saw (settle), and the launcher waits the same way before it stops
Kamailio (edgeops/stack.py), so a clean stop loses nothing. Hand-overs with a dialog event are
counted apart too (`dialogs`, written: `dialogs_done`): a read of agents' calls in progress
(a queue offer, presence) waits only while one of those is on its way, not for the history.
The writer itself never waits: what it reads was written before. A full queue never blocks a
worker: it writes to Redis itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import KSR
import redis

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.sip.context import Context, pv
from kemi_app.state.agentstate import CallEnd
from kemi_app.state.attendance import Writes

QUEUE = "history"  # kamailio.cfg: its mqueue, its rtimer process and its htable
TABLE = "history"
SEQ, DONE = "seq", "done"
DIALOGS, DIALOGS_DONE = "dialogs", "dialogs_done"
DIALOG_MARK = "d"  # ends the mqueue key of a hand-over with a dialog event
STARTS = "dlgstarts"  # kamailio.cfg: htable agent "org:ext" -> `dialogs` number of its latest call start
QUEUE_LIMIT = 50_000  # below the mqueue's size (which would drop the oldest): beyond it, write directly
BATCH = 500  # hand-overs per script call
BATCHES_PER_RUN = 20  # one run never holds the process for long
SETTLE_SECONDS = 0.5
SETTLE_STEP = 0.002
LOG_EVERY = 5.0  # seconds between two logs of the same failure
_WRAP = 1 << 32  # htable values are C ints: the numbers wrap
_in_writer = [False]  # the history writer is running (in its own process)


def _number(item: str) -> int:
    value = KSR.htable.sht_get(TABLE, item)
    return int(value) if isinstance(value, int) else 0


def behind(done: int, target: int) -> bool:
    """Has the writer not yet written hand-over `target`? (numbers that wrap around)"""
    return 0 < (target - done) % _WRAP < _WRAP // 2


def _c_int(n: int) -> int:
    """`n` as the htable's wrapping C int holds it."""
    return (n + _WRAP // 2) % _WRAP - _WRAP // 2


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
        if writes.dialog:  # counted before it is queued: a settle never misses it
            number = KSR.htable.sht_inc(TABLE, DIALOGS)
            for agent in writes.started:
                KSR.htable.sht_seti(STARTS, agent, number)
        key = f"{KSR.htable.sht_inc(TABLE, SEQ)}{DIALOG_MARK if writes.dialog else ''}"
        KSR.mqueue.mq_add(QUEUE, key, f"{writes.minid}\n{writes.json}\n{_joined(writes.keys)}")
        return True

    def settle(self, dialogs_only: bool = False) -> None:
        if _in_writer[0]:
            return
        target_item, done_item = (DIALOGS, DIALOGS_DONE) if dialogs_only else (SEQ, DONE)
        target = _number(target_item)
        deadline = time.monotonic() + SETTLE_SECONDS
        while behind(_number(done_item), target) and time.monotonic() < deadline:
            time.sleep(SETTLE_STEP)


    def dialogs_pending(self) -> bool:
        return behind(_number(DIALOGS_DONE), _number(DIALOGS))

    def starting(self, agent: str) -> bool:
        number = KSR.htable.sht_get(STARTS, agent)
        return isinstance(number, int) and behind(_number(DIALOGS_DONE), number)


CallOver = Callable[[Context, str, CallEnd], None]


class Writer:
    """The writer process's state: writes fetched but not yet in Redis (it was down) go first
    next run, so their order holds. `call_over` stops what a call that ended leaves running."""

    def __init__(self, call_over: CallOver) -> None:
        self.call_over = call_over
        self.pending: list[Writes] = []
        self.last = 0  # hand-over number of the newest pending write
        self.dialogs = 0  # hand-overs with a dialog event written so far
        self.logged = 0.0

    def run(self, ctx: Context) -> None:
        """rtimer route: everything queued since the last run, in batches of one script call each."""
        _in_writer[0] = True
        try:
            self._run(ctx)
        finally:
            _in_writer[0] = False

    def _run(self, ctx: Context) -> None:
        for _ in range(BATCHES_PER_RUN):
            while len(self.pending) < BATCH and KSR.mqueue.mq_fetch(QUEUE) > 0:
                minid, writes, keys = pv(f"$mqv({QUEUE})").split("\n", 2)
                key = pv(f"$mqk({QUEUE})")
                dialog = key.endswith(DIALOG_MARK)
                self.pending.append(Writes(_split(keys), writes, minid, dialog))
                self.last = int(key.removesuffix(DIALOG_MARK))
            if not self.pending:
                return
            ends: list[tuple[str, CallEnd]] = []
            try:
                ends = ctx.state.history.write_batch(self.pending)
            except (redis.ConnectionError, redis.TimeoutError, DependencyDown) as e:
                self._log(f"history not written yet, Redis unavailable: {e!r}")
                return  # kept for the next run
            except Exception as e:  # a batch Redis refuses would block every later one
                metrics.route_exception("history")
                KSR.err(f"history batch of {len(self.pending)} write(s) dropped: {e!r}\n")
            self.dialogs = _c_int(self.dialogs + sum(w.dialog for w in self.pending))
            self.pending = []
            KSR.htable.sht_seti(TABLE, DONE, self.last)
            KSR.htable.sht_seti(TABLE, DIALOGS_DONE, self.dialogs)
            for call_id, end in ends:
                self._call_over(ctx, call_id, end)

    def _call_over(self, ctx: Context, call_id: str, end: CallEnd) -> None:
        try:
            self.call_over(ctx, call_id, end)
        except Exception as e:  # one call's supervisor or recording must not hold the others
            metrics.route_exception("history")
            KSR.err(f"call {call_id} ended, its supervision or recording not stopped: {e!r}\n")

    def _log(self, text: str) -> None:
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY:
            self.logged = now
            KSR.err(f"{text}\n")
