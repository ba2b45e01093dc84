"""The history hand-over (sip/history.py) against a stand-in for Kamailio's mqueue and htable:
writes reach Redis in the order they were handed over, a writer that cannot reach Redis keeps
them for its next run, one Redis refuses is dropped, a full queue sends the worker to Redis
itself, dialog events are counted apart for the reads that wait on them only, and the calls a
batch ended get their supervision and recording stopped by the writer."""

from __future__ import annotations

import importlib
from collections import deque
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import redis

from kemi_app.state.agentstate import CallEnd
from kemi_app.state.attendance import Writes
from tests.unit import fake_ksr


class Shared:
    """Kamailio's shared memory as the module uses it: one mqueue, one htable."""

    def __init__(self, ksr: fake_ksr.FakeKSR) -> None:
        self.queue: deque[tuple[str, str]] = deque()
        self.table: dict[str, int] = {}
        self.ksr = ksr
        ksr.answers |= {
            "mqueue.mq_size": lambda name: len(self.queue),
            "mqueue.mq_add": lambda name, key, value: self.queue.append((key, value)) or 1,
            "mqueue.mq_fetch": self.fetch,
            "htable.sht_inc": self.inc,
            "htable.sht_get": lambda table, item: self.table.get(item, 0),
            "htable.sht_seti": lambda table, item, value: self.table.__setitem__(item, value) or 1,
        }

    def inc(self, table: str, item: str) -> int:
        self.table[item] = self.table.get(item, 0) + 1
        return self.table[item]

    def fetch(self, name: str) -> int:
        if not self.queue:
            return -1
        key, value = self.queue.popleft()
        self.ksr.pvs |= {f"$mqk({name})": key, f"$mqv({name})": value}
        return 1


class History:
    """ctx.state.history as the writer uses it: batches sent, or the error Redis gives."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.error: Exception | None = None
        self.ends: list[tuple[str, CallEnd]] = []

    def write_batch(self, writes: list[Any]) -> list[tuple[str, CallEnd]]:
        if self.error is not None:
            raise self.error
        self.batches.append(writes)
        ends, self.ends = self.ends, []  # what this batch ended
        return ends


class Stopped:
    """The writer's call_over: the calls it was told ended, and the settles they made."""

    def __init__(self, sink: Any = None) -> None:
        self.calls: list[tuple[str, CallEnd]] = []
        self.sink = sink

    def __call__(self, ctx: Any, call_id: str, end: CallEnd) -> None:
        if self.sink is not None:  # as supervision and recordings do: a stop event, then a read
            self.sink.put(write(9))
            self.sink.settle()  # must not wait for the writer: it is the writer
        self.calls.append((call_id, end))


@pytest.fixture
def mod():
    ksr = fake_ksr.install()
    shared = Shared(ksr)
    history = importlib.import_module("kemi_app.sip.history")
    yield history, shared
    fake_ksr.uninstall()


def write(n: int) -> Writes:
    """A hand-over as attendance.Attendances makes it: already encoded (two writes: two keys)."""
    return Writes([f"edge:att:{n}", f"edge:recent:o:{n}"], f'{{"att":"{n}","lists":1}},{{"att":"{n}"}}', f"{n}-0")


def test_writes_reach_redis_in_the_order_they_were_handed_over(mod: tuple[ModuleType, Shared]) -> None:
    history, shared = mod
    sink, writer, store = history.HistoryQueue(), history.Writer(Stopped()), History()
    assert sink.put(write(1)) and sink.put(write(2)) and sink.put(write(3))
    writer.run(SimpleNamespace(state=SimpleNamespace(history=store)))
    assert store.batches == [[write(1), write(2), write(3)]]  # one script call
    assert shared.table == {"seq": 3, "done": 3, "dialogs_done": 0}
    sink.settle()  # caught up: returns at once


def test_a_key_with_a_newline_of_its_own_crosses_the_queue_intact(mod: tuple[ModuleType, Shared]) -> None:
    history, _ = mod
    sink, writer, store = history.HistoryQueue(), history.Writer(Stopped()), History()
    folded = Writes(["edge:att:1", "edge:call:a\r\n b"], '{"att":"1","link":"a\\r\\n b"}', "")
    assert sink.put(folded) and sink.put(write(2))
    writer.run(SimpleNamespace(state=SimpleNamespace(history=store)))
    assert store.batches == [[folded, write(2)]]


@pytest.mark.parametrize(("error", "written"), [
    (redis.ConnectionError("down"), [[write(1), write(2)]]),  # kept, in order, for the next run
    (redis.ResponseError("ERR bad script"), [[write(2)]]),  # dropped: it would block every later batch
])
def test_a_batch_that_fails_is_kept_while_redis_is_down_and_dropped_when_refused(
        mod: tuple[ModuleType, Shared], error: Exception, written: list[list[Any]]) -> None:
    history, shared = mod
    sink, writer, store = history.HistoryQueue(), history.Writer(Stopped()), History()
    ctx = SimpleNamespace(state=SimpleNamespace(history=store))
    sink.put(write(1))
    store.error = error
    writer.run(ctx)
    store.error = None
    sink.put(write(2))
    writer.run(ctx)
    assert store.batches == written
    assert shared.table["done"] == 2


def test_a_full_queue_sends_the_worker_to_redis_itself(mod: tuple[ModuleType, Shared]) -> None:
    history, shared = mod
    shared.queue.extend([("0", "[]")] * history.QUEUE_LIMIT)
    assert history.HistoryQueue().put(write(1)) is False
    assert len(shared.queue) == history.QUEUE_LIMIT


@pytest.mark.parametrize(("done", "target", "behind"), [
    (0, 0, False), (4, 5, True), (5, 5, False), (6, 5, False),
    (2**31 - 1, -(2**31), True),  # the hand-over number wrapped, the writer not yet
    (-(2**31), 2**31 - 1, False),
])
def test_behind_copes_with_numbers_that_wrap(mod: tuple[ModuleType, Shared], done: int, target: int,
                                              behind: bool) -> None:
    history, _ = mod
    assert history.behind(done, target) is behind


def test_dialog_events_are_counted_apart_and_their_settle_ignores_the_history(
        mod: tuple[ModuleType, Shared], monkeypatch: pytest.MonkeyPatch) -> None:
    history, shared = mod
    sink, writer, store = history.HistoryQueue(), history.Writer(Stopped()), History()
    ctx = SimpleNamespace(state=SimpleNamespace(history=store))
    assert sink.put(write(1)) and sink.put(write(2)._replace(dialog=True))
    assert [key for key, _ in shared.queue] == ["1", "2d"]
    assert shared.table == {"seq": 2, "dialogs": 1}
    writer.run(ctx)
    assert store.batches == [[write(1), write(2)._replace(dialog=True)]]
    assert shared.table == {"seq": 2, "done": 2, "dialogs": 1, "dialogs_done": 1}
    sink.put(write(3))  # history only: a read of calls in progress does not wait for it
    monkeypatch.setattr(history.time, "sleep", waited)
    sink.settle(dialogs_only=True)
    sink.put(write(4)._replace(dialog=True))
    with pytest.raises(AssertionError, match="waited"):
        sink.settle(dialogs_only=True)


def waited(seconds: float) -> None:
    raise AssertionError("waited")


def test_the_writer_stops_what_the_calls_it_wrote_ended(mod: tuple[ModuleType, Shared],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    history, _ = mod
    monkeypatch.setattr(history.time, "sleep", waited)
    sink = history.HistoryQueue()
    stopped = Stopped(sink)
    writer, store = history.Writer(stopped), History()
    store.ends = [("c1", CallEnd(["sup-1"], "att-1")), ("c2", CallEnd([], "att-2"))]
    sink.put(write(1)._replace(dialog=True))
    ends = store.ends
    writer.run(SimpleNamespace(state=SimpleNamespace(history=store)))
    assert stopped.calls == ends  # its settle did not wait for the writer itself


def test_a_call_that_cannot_be_stopped_does_not_hold_the_others(mod: tuple[ModuleType, Shared]) -> None:
    history, _ = mod
    calls: list[str] = []

    def call_over(ctx: Any, call_id: str, end: CallEnd) -> None:
        calls.append(call_id)
        if call_id == "c1":
            raise RuntimeError("rtpengine gone")

    sink, writer, store = history.HistoryQueue(), history.Writer(call_over), History()
    store.ends = [("c1", CallEnd(["sup-1"])), ("c2", CallEnd(["sup-2"]))]
    sink.put(write(1)._replace(dialog=True))
    writer.run(SimpleNamespace(state=SimpleNamespace(history=store)))
    assert calls == ["c1", "c2"]


def test_a_call_start_on_its_way_makes_its_agents_busy_until_written(mod: tuple[ModuleType, Shared]) -> None:
    history, _ = mod
    sink, writer, store = history.HistoryQueue(), history.Writer(Stopped()), History()
    assert not sink.dialogs_pending() and not sink.starting("org:100")
    sink.put(write(1)._replace(dialog=True, started=("org:100", "org:200")))
    assert sink.dialogs_pending() and sink.starting("org:100") and sink.starting("org:200")
    assert not sink.starting("org:300")
    writer.run(SimpleNamespace(state=SimpleNamespace(history=store)))
    assert not sink.dialogs_pending() and not sink.starting("org:100")
