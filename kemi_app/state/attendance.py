"""Attendances, their legs and history, and transfers announced in a REFER.

Everything here expires after the history retention period (EDGE_HISTORY_RETENTION_DAYS).
"""

from __future__ import annotations

import secrets

from redis.client import Pipeline

from kemi_app.extensions import is_agent_ext
from kemi_app.policy.attendance import Attendance, Event
from kemi_app.state import keys
from kemi_app.state.base import StoreBase

RECENT_PER_AGENT = 50
GLOBAL_STREAM_MAXLEN = 100_000
ATTENDANCE_STREAM_MAXLEN = 1_000
TRANSFER_TOKEN_SECONDS = 120


class AttendanceStore(StoreBase):
    retention: int  # seconds

    def create_attendance(self, att: Attendance, call_id: str, first: Event) -> None:
        """The record, its first leg and its first event, atomically."""
        with self.r.pipeline(transaction=True) as p:
            p.hset(keys.attendance(att.id), mapping=att.to_record())
            p.expire(keys.attendance(att.id), self.retention)
            self._link(p, att.id, call_id)
            self._append(p, first)
            p.execute()

    def attendance(self, att_id: str) -> Attendance | None:
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.attendance(att_id))
            p.smembers(keys.attendance_legs(att_id))
            data, legs = p.execute()
        return Attendance.from_record(data, list(legs)) if data else None

    def attendance_by_call(self, call_id: str) -> Attendance | None:
        att_id = self.r.get(keys.call_attendance(call_id))
        return self.attendance(att_id) if att_id else None

    def _link(self, p: Pipeline, att_id: str, call_id: str) -> None:
        p.sadd(keys.attendance_legs(att_id), call_id)
        p.expire(keys.attendance_legs(att_id), self.retention)
        p.set(keys.call_attendance(call_id), att_id, ex=self.retention)

    def link_leg(self, att_id: str, call_id: str, event: Event) -> None:
        with self.r.pipeline(transaction=True) as p:
            self._link(p, att_id, call_id)
            self._append(p, event)
            p.execute()

    def current_attendance(self, org: str, ext: str) -> str:
        """The attendance of a call the agent is on now ('' if none)."""
        call_ids = self.r.hkeys(keys.calls(org, ext))
        if not call_ids:
            return ""
        with self.r.pipeline(transaction=False) as p:
            for call_id in call_ids:
                p.get(keys.call_attendance(call_id))
            found = [att for att in p.execute() if att]
        return found[0] if found else ""

    def mark_interorg_transferred(self, att_id: str, at: float) -> bool:
        """Compare-and-set: only the first inter-org transfer of an attendance wins."""
        key = keys.attendance(att_id)
        with self.r.pipeline(transaction=True) as p:
            p.hsetnx(key, "interorg_transferred_at", str(at))
            p.hset(key, "interorg_transferred", "1")
            first, _ = p.execute()
        return bool(first)

    # -- history ----------------------------------------------------------------
    def _append(self, p: Pipeline, event: Event) -> None:
        fields = event.to_fields()
        stream = keys.attendance_history(event.attendance)
        p.xadd(stream, fields, maxlen=ATTENDANCE_STREAM_MAXLEN, approximate=True)
        p.expire(stream, self.retention)
        p.xadd(keys.HISTORY, fields, maxlen=GLOBAL_STREAM_MAXLEN, approximate=True)
        for ext in {event.actor, event.target}:
            if is_agent_ext(ext):
                recent = keys.recent(event.org, ext)
                p.lrem(recent, 0, event.attendance)
                p.lpush(recent, event.attendance)
                p.ltrim(recent, 0, RECENT_PER_AGENT - 1)
                p.expire(recent, self.retention)

    def record_events(self, *events: Event) -> None:
        with self.r.pipeline(transaction=True) as p:
            for event in events:
                self._append(p, event)
            p.execute()

    def attendance_history(self, att_id: str) -> list[Event]:
        return [Event.from_fields(fields) for _, fields in self.r.xrange(keys.attendance_history(att_id))]

    def recent_attendances(self, org: str, ext: str, limit: int = 20) -> list[str]:
        return list(self.r.lrange(keys.recent(org, ext), 0, limit - 1))

    # -- transfer tokens -----------------------------------------------------------
    def announce_transfer(self, att_id: str, kind: str, target: str, actor: str, replaces: str = "") -> str:
        """A REFER was let through: remember where its INVITE must go and what it belongs to."""
        token = secrets.token_hex(8)
        key = keys.transfer(token)
        fields = {"attendance": att_id, "kind": kind, "target": target, "actor": actor, "replaces": replaces}
        with self.r.pipeline(transaction=True) as p:
            p.hset(key, mapping=fields)
            p.expire(key, TRANSFER_TOKEN_SECONDS)
            p.execute()
        return token

    def take_transfer(self, token: str) -> dict[str, str]:
        """The transfer a token stands for, once: the token is spent by reading it."""
        with self.r.pipeline(transaction=True) as p:
            p.hgetall(keys.transfer(token))
            p.delete(keys.transfer(token))
            fields, _ = p.execute()
        return fields

    def set_customer_call(self, att_id: str, call_id: str) -> None:
        self.r.hset(keys.attendance(att_id), "customer_call", call_id)
