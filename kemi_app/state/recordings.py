"""Call recordings, kept in their attendance's hash (fields r1, r2: policy.recording.Recording
as JSON) so they are read with it and expire with it. Every start and stop is checked and
written with its history event in one optimistic transaction on that hash.

A stopped recording waits in its node's to-do list until the node's timer process has
written its audio files; the node then keeps them in a sorted set by stop time, which the
retention sweep reads to delete files and records together.
"""

from __future__ import annotations

import json
import re
import time

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.attendance import Event
from kemi_app.policy.recording import NO_CALL, READY, Recording, Refusal, start_refusal, to_stop
from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_RECORD_TTL
from kemi_app.state.attendance import Attendances
from kemi_app.state.base import Store
from kemi_app.state.scripts import execute

EVENT = "recording"
_FIELD = re.compile(r"r(\d+)")


def recordings_in(data: dict[str, str]) -> list[Recording]:
    """The recordings of an attendance hash's fields, in order."""
    found = [(int(m.group(1)), v) for f, v in data.items() if (m := _FIELD.fullmatch(f))]
    return [Recording.from_json(v) for _, v in sorted(found)]


def _member(att_id: str, n: int) -> str:
    return f"{att_id}|{n}"


@metrics.timed_state
class Recordings(Store):
    def __init__(self, client: redis.Redis, history: Attendances, retention_days: int) -> None:
        super().__init__(client)
        self.history = history
        self.retention = retention_days * 86400

    def of(self, att_id: str) -> list[Recording]:
        return recordings_in(self.r.hgetall(keys.attendance(att_id)))

    def start(self, att_id: str, call_id: str, by: str, reason: str) -> Recording | Refusal:
        """Claims the next recording of the attendance for `call_id`, or says why not (the
        refusal is in the history too)."""
        key = keys.attendance(att_id)
        self.history.settle()  # the attendance's creation may still be on its way
        later: list[Event] = []

        def body(p: Pipeline) -> Recording | Refusal:
            later.clear()
            data = p.hgetall(key)
            if "id" not in data:
                return NO_CALL
            existing = recordings_in(data)
            now = time.time()
            refusal = start_refusal(existing, call_id)
            p.multi()
            if refusal is not None:
                self._event(p, data, now, by, "refused", refusal.reason, call_id, "", later)
                return refusal
            rec = Recording(len(existing) + 1, call_id, now, by, reason)
            p.hset(key, f"r{rec.n}", rec.to_json())
            p.sadd(keys.RECORDINGS_ACTIVE, _member(att_id, rec.n))
            p.set(keys.recording_call(call_id), att_id, ex=CALL_RECORD_TTL)
            self._event(p, data, now, by, "started", reason, call_id, f"r{rec.n}", later)
            return rec

        started = self._optimistic([key], body)
        self.history.send_later(later)
        return started

    def stop(self, att_id: str, call_id: str, by: str, reason: str, node: str) -> list[Recording]:
        """Stops the recordings of `call_id` that run ('' : of every call of the attendance)
        and queues them for their audio files on `node`."""
        key = keys.attendance(att_id)
        self.history.settle()
        later: list[Event] = []

        def body(p: Pipeline) -> list[Recording]:
            later.clear()
            data = p.hgetall(key)
            now = time.time()
            stopped = [r.stopped(now, by, reason) for r in to_stop(recordings_in(data), call_id)]
            p.multi()
            for rec in stopped:
                p.hset(key, f"r{rec.n}", rec.to_json())
                p.srem(keys.RECORDINGS_ACTIVE, _member(att_id, rec.n))
                p.rpush(keys.recordings_todo(node), _member(att_id, rec.n))
                p.delete(keys.recording_call(rec.call_id))
                self._event(p, data, now, by, "stopped", reason, rec.call_id, f"r{rec.n}", later)
            return stopped

        stopped = self._optimistic([key], body)
        self.history.send_later(later)
        return stopped

    def forget_start(self, att_id: str, org: str, rec: Recording, why: str) -> None:
        """rtpengine did not start it: it does not count, and the history says it failed."""
        with self.r.pipeline(transaction=True) as p:
            p.hdel(keys.attendance(att_id), f"r{rec.n}")
            p.srem(keys.RECORDINGS_ACTIVE, _member(att_id, rec.n))
            p.delete(keys.recording_call(rec.call_id))
            self._event(p, {"id": att_id, "org": org}, time.time(), rec.started_by, "failed", why, rec.call_id,
                        f"r{rec.n}")
            execute(p)

    def next_todo(self, node: str) -> tuple[str, Recording] | None:
        """The oldest stopped recording whose files this node still has to write."""
        while member := self.r.lpop(keys.recordings_todo(node)):
            att_id, _, n = str(member).rpartition("|")
            raw = self.r.hget(keys.attendance(att_id), f"r{n}")
            if raw:
                return att_id, Recording.from_json(raw)
        return None

    def postpone(self, node: str, att_id: str, rec: Recording) -> None:
        self.r.rpush(keys.recordings_todo(node), _member(att_id, rec.n))

    def finished(self, node: str, att_id: str, rec: Recording) -> None:
        """Its files are written (READY) or could not be (FAILED); READY ones are kept until
        the retention sweep."""
        with self.r.pipeline(transaction=True) as p:
            p.hset(keys.attendance(att_id), f"r{rec.n}", rec.to_json())
            if rec.state == READY:
                entry = json.dumps([att_id, rec.n, [rec.file, *rec.parties]])
                p.zadd(keys.recordings_kept(node), {entry: rec.stopped_at})
            p.execute()

    def expired(self, node: str, now: float) -> list[tuple[str, int, list[str]]]:
        """Recordings past retention: (attendance, n, files), oldest first."""
        entries = self.r.zrangebyscore(keys.recordings_kept(node), "-inf", now - self.retention, start=0, num=100)
        return [(e[0], e[1], e[2]) for e in map(json.loads, entries)]

    def drop(self, node: str, att_id: str, n: int, files: list[str]) -> None:
        """The record goes with its files (the history keeps its start and stop events)."""
        entry = json.dumps([att_id, n, files])
        with self.r.pipeline(transaction=True) as p:
            p.hdel(keys.attendance(att_id), f"r{n}")
            p.zrem(keys.recordings_kept(node), entry)
            p.execute()

    def active_count(self) -> int:
        return int(self.r.scard(keys.RECORDINGS_ACTIVE))

    def _event(self, p: Pipeline, att: dict[str, str], at: float, by: str, result: str, reason: str,
               call_id: str, detail: str, later: list[Event] | None = None) -> None:
        if "id" in att:
            self.history.queue_events(p, Event(att["id"], EVENT, at, att.get("org", ""), actor=by, result=result,
                                               reason=reason, call_id=call_id, detail=detail), later=later)

