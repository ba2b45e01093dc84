"""Queues: which members may be offered a call, with an offer lock so one free agent never
gets two."""

from __future__ import annotations

from kemi_app import metrics
from kemi_app.policy.queue import QueueMember
from kemi_app.state import keys
from kemi_app.state.agentstate import presence_from, presence_replies, queue_presence
from kemi_app.state.base import Store

# Deletes the offer lock only if it still belongs to this attendance.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@metrics.timed_state
class Queues(Store):
    def queue_members(self, org_id: str, exts: list[str]) -> tuple[list[QueueMember], dict[str, bool]]:
        """Members as the queue sees them, and who wants auto-answer: one round trip."""
        with self.r.pipeline(transaction=False) as p:
            queue_presence(p, org_id, exts)
            for ext in exts:
                p.hget(keys.agent(org_id, ext), "auto_answer")
                p.exists(keys.offer(org_id, ext))
                p.get(keys.idle(org_id, ext))
            replies = p.execute()
        split = presence_replies(exts)
        presences, rows = presence_from(exts, replies[:split]), replies[split:]
        members, auto_answer = [], {}
        for i, presence in enumerate(presences):
            auto, offered, idle = rows[3 * i : 3 * i + 3]
            auto_answer[presence.ext] = auto == "true"
            members.append(QueueMember(
                ext=presence.ext,
                registered=presence.state != "offline",
                state=presence.state,
                dnd=presence.dnd,
                active_calls=presence.calls,
                idle_since=max(presence.since or 0.0, float(idle or 0)),
                reserved=bool(offered),
            ))
        return members, auto_answer

    def reserve_offer(self, org_id: str, ext: str, attendance: str, ttl_ms: int) -> bool:
        return bool(self.r.set(keys.offer(org_id, ext), attendance, nx=True, px=ttl_ms))

    def release_offer(self, org_id: str, ext: str, attendance: str) -> None:
        self.r.eval(_RELEASE, 1, keys.offer(org_id, ext), attendance)
