"""A dialog event's writes (agents' calls in progress, queues included, and the attendance's
history) as one piece of the history writes' script (state/attendance.py WRITE): in Kamailio
it goes to the history writer process with the history, in order, so a SIP worker spends no
round trip on it; elsewhere (the API, tests) it is one script call at once. The end of a
call also takes its supervisors and clears its "being recorded" mark; whoever sends the piece
stops what it names (sip/dialogs.py call_over)."""

from __future__ import annotations

import redis

from kemi_app import metrics
from kemi_app.policy.attendance import Event
from kemi_app.state.agentstate import CallEnd, CallsChange, dialog_write
from kemi_app.state.attendance import Attendances, encoded
from kemi_app.state.base import Store


@metrics.timed_state
class DialogEvents(Store):
    def __init__(self, client: redis.Redis, history: Attendances) -> None:
        super().__init__(client)
        self.history = history

    def record(self, calls: CallsChange | None, *events: Event, ended_call: str = "") -> CallEnd:
        """What must stop with `ended_call` now: its supervisors (state.supervision) and the
        attendance being recorded. Nothing when the history writer took the event: it stops
        them once it wrote the event."""
        writes = [dialog_write(calls, ended_call)] if calls is not None or ended_call else []
        writes += self.history.writes_of(events)
        if not writes:
            return CallEnd()
        started = tuple(f"{calls.org_id}:{ext}" for ext in calls.exts) if calls and calls.started else ()
        piece = encoded(writes)._replace(dialog=calls is not None, started=started)
        sink = self.history.sink
        if sink is not None and sink.put(piece):
            return CallEnd()
        ends = self.history.write_batch([piece])
        return ends[0][1] if ends else CallEnd()

    def settle(self) -> None:
        """A read that decides on agents' calls in progress (presence, queue offers) sees this
        node's dialog events so far."""
        self.history.settle(dialogs_only=True)

    def pending(self) -> bool:
        """Is one of this node's dialog events still on its way to Redis?"""
        sink = self.history.sink
        return sink is not None and sink.dialogs_pending()

    def starting(self, org_id: str, ext: str) -> bool:
        """Is a call start of the agent still on its way to Redis (it is busy, Redis not yet
        says so)?"""
        sink = self.history.sink
        return sink is not None and sink.starting(f"{org_id}:{ext}")
