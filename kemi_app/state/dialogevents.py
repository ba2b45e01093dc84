"""A dialog event's writes (agents' calls in progress, the attendance's history) in one
transaction: one round trip per answer or end. The end of a call also takes its supervisors
and clears its "being recorded" mark (then the call's supervision and recordings are stopped)."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from kemi_app import metrics
from kemi_app.policy.attendance import Event
from kemi_app.state import keys
from kemi_app.state.agentstate import CallsChange, queue_calls_change
from kemi_app.state.attendance import Attendances
from kemi_app.state.base import Store


@dataclass(frozen=True)
class CallEnd:
    supervisors: list[str] = field(default_factory=list)  # their Call-IDs, unindexed
    recorded: str = ""  # the attendance whose recording stops


@metrics.timed_state
class DialogEvents(Store):
    def __init__(self, client: redis.Redis, history: Attendances) -> None:
        super().__init__(client)
        self.history = history

    def record(self, calls: CallsChange | None, *events: Event, ended_call: str = "") -> CallEnd:
        """What must stop with `ended_call`: its supervisors (state.supervision) and the attendance
        being recorded."""
        if calls is None and not events and not ended_call:
            return CallEnd()
        with self.r.pipeline(transaction=True) as p:
            if calls is not None:
                queue_calls_change(p, calls)
            self.history.queue_events(p, *events)
            if ended_call:
                p.smembers(keys.supervised_call(ended_call))
                p.delete(keys.supervised_call(ended_call))
                p.getdel(keys.recording_call(ended_call))
            results = self.history.execute(p)
        return CallEnd(sorted(results[-3]), results[-1] or "") if ended_call else CallEnd()
