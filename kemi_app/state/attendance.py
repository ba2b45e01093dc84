"""Attendances, their legs and history, and transfers announced in a REFER.

One hash per attendance holds everything kept for the retention period
(EDGE_HISTORY_RETENTION_DAYS): the record's fields, its legs (`l0`, `l1`, ... = Call-ID) and
its history (`e1`, `e2`, ... in order, counted by `n`), each event a short JSON array that
names its leg by index. Small values keep the hash in Redis' compact listpack encoding: a
typical call costs one key of well under 1 KB (a stream per attendance preallocates 4 KB).
The Call-ID -> attendance keys live only as long as a call can (CALL_RECORD_TTL), and the
global stream `edge:history`, for consumers, is capped by length and age.
"""

from __future__ import annotations

import re
import secrets
import time

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.extensions import is_agent_ext
from kemi_app.policy.attendance import Attendance, Event, in_message_order
from kemi_app.policy.transfer import Progress
from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_RECORD_TTL
from kemi_app.state.base import Store

RECENT_PER_AGENT = 50
GLOBAL_STREAM_MAXLEN = 100_000
EVENTS_PER_ATTENDANCE = 1_000  # the oldest go first beyond this
TRANSFER_TOKEN_SECONDS = 120
_LEG = re.compile(r"l(\d+)")
_EVENT = re.compile(r"e(\d+)")

# KEYS[1]: the attendance hash. ARGV[1]: its TTL, ARGV[2]: the most events kept, ARGV[3]: a
# Call-ID to link as a leg ('' for none), then pairs (Call-ID or '', Event.compact_tail()).
# An attendance that is gone (expired) is not revived by a late event.
_APPEND = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local function leg(call_id, link)
  if call_id == '' then return 'null' end
  local i = 0
  while true do
    local have = redis.call('HGET', key, 'l' .. i)
    if not have then break end
    if have == call_id then return tostring(i) end
    i = i + 1
  end
  if not link then return cjson.encode(call_id) end
  redis.call('HSET', key, 'l' .. i, call_id)
  return tostring(i)
end
leg(ARGV[3], true)
for j = 4, #ARGV, 2 do
  local n = redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'e' .. n, '[' .. leg(ARGV[j], false) .. ',' .. ARGV[j + 1])
  if n > tonumber(ARGV[2]) then redis.call('HDEL', key, 'e' .. (n - tonumber(ARGV[2]))) end
end
redis.call('EXPIRE', key, ARGV[1])
return 1
"""


ORG_TRANSFER_SECONDS = 86400  # how long the API can tell how an inter-org transfer went
# KEYS: the transfer's hash, the attendance. ARGV: new status, reason, time, release ('1': the
# attendance's inter-org claim is given back). Returns the pending transfer, or nil.
_FINISH_ORG_TRANSFER = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return nil end
local before = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[2], 'ended', ARGV[3])
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HDEL', KEYS[2], 'interorg_transferred_at')
  redis.call('HSET', KEYS[2], 'interorg_transferred', '0')
end
return before
"""


@metrics.timed_state
class Attendances(Store):
    history_maxlen: int = GLOBAL_STREAM_MAXLEN  # entries of the global stream, approximately

    def __init__(self, client: redis.Redis, retention_days: int) -> None:
        super().__init__(client)
        self.retention = retention_days * 86400  # seconds

    def create_attendance(self, att: Attendance, call_id: str, first: Event, *more: Event) -> None:
        """The record, its first leg and its first events, atomically in one round trip."""
        with self.r.pipeline(transaction=True) as p:
            p.hset(keys.attendance(att.id), mapping=att.to_record())
            self._record(p, att.id, call_id, first, *more)
            # Age trimming once per attendance is enough; whole stream nodes go (approximate).
            p.xtrim(keys.HISTORY, minid=f"{int((time.time() - self.retention) * 1000)}-0", approximate=True)
            p.execute()

    def attendance(self, att_id: str) -> Attendance | None:
        data = self.r.hgetall(keys.attendance(att_id))
        return Attendance.from_record(data, _numbered(data, _LEG)) if "id" in data else None

    def attendance_by_call(self, call_id: str) -> Attendance | None:
        att_id = self.r.get(keys.call_attendance(call_id))
        return self.attendance(att_id) if att_id else None

    def link_leg(self, att_id: str, call_id: str, event: Event) -> None:
        with self.r.pipeline(transaction=True) as p:
            self._record(p, att_id, call_id, event)
            p.execute()

    def link_transfer(self, att_id: str, call_id: str, event: Event, *, transferred: bool, queue: str) -> None:
        """A transferee's new leg joins the attendance and is the customer's call from now on;
        an agent's transfer marks the call transferred, and entering a queue marks it as come
        through one (a call an IVR sends to a queue is marked here, not at its creation)."""
        marks = {"customer_call": call_id}
        if transferred:
            marks["transferred"] = "1"
        if queue:
            marks |= {"entered_through_queue": "1", "queue": queue}
        with self.r.pipeline(transaction=True) as p:
            self._record(p, att_id, call_id, event)
            p.hset(keys.attendance(att_id), mapping=marks)
            p.execute()

    def continue_in_org(self, source_id: str, att: Attendance, call_id: str, source_event: Event,
                        first: Event) -> None:
        """An inter-org transfer's new leg starts the destination org's own attendance, linked
        both ways with the source's: each company keeps the call's flow in its own history."""
        with self.r.pipeline(transaction=True) as p:
            p.hset(keys.attendance(att.id), mapping=att.to_record())
            self._record(p, att.id, call_id, first)
            self._record(p, source_id, "", source_event)
            p.hset(keys.attendance(source_id), "transferred_to", att.id)
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
    def _record(self, p: Pipeline, att_id: str, link: str, *events: Event) -> None:
        """Queues `events` (and the leg `link`, if any) for the attendance's hash, the global
        stream and the agents' recent lists."""
        if link:
            # Only needed while the leg is up (transfers, conferences, vanished agents).
            p.set(keys.call_attendance(link), att_id, ex=min(self.retention, CALL_RECORD_TTL))
        args: list[str] = []
        for event in events:
            args += [event.call_id, event.compact_tail()]
        p.eval(_APPEND, 1, keys.attendance(att_id), self.retention, EVENTS_PER_ATTENDANCE, link, *args)
        for event in events:
            p.xadd(keys.HISTORY, event.to_fields(), maxlen=self.history_maxlen, approximate=True)
            for ext in {event.actor, event.target}:
                if is_agent_ext(ext):
                    recent = keys.recent(event.org, ext)
                    p.lrem(recent, 0, event.attendance)
                    p.lpush(recent, event.attendance)
                    p.ltrim(recent, 0, RECENT_PER_AGENT - 1)
                    p.expire(recent, self.retention)

    def record_events(self, *events: Event) -> None:
        with self.r.pipeline(transaction=True) as p:
            self.queue_events(p, *events)
            p.execute()

    def queue_events(self, p: Pipeline, *events: Event) -> None:
        """Queues `events` on `p` (a transaction) for the caller to send with its own writes."""
        for att_id in dict.fromkeys(e.attendance for e in events):
            self._record(p, att_id, "", *(e for e in events if e.attendance == att_id))

    def attendance_history(self, att_id: str) -> list[Event]:
        data = self.r.hgetall(keys.attendance(att_id))
        legs = _numbered(data, _LEG)
        return in_message_order([Event.from_compact(att_id, stored, legs) for stored in _numbered(data, _EVENT)])

    def recent_attendances(self, org: str, ext: str, limit: int = 20) -> list[str]:
        return list(self.r.lrange(keys.recent(org, ext), 0, limit - 1))

    # -- transfer tokens -----------------------------------------------------------
    def announce_transfer(self, att_id: str, kind: str, target: str, actor: str, replaces: str = "",
                          org: str = "") -> str:
        """A REFER was let through: remember where its INVITE must go and what it belongs to
        (`org`: the destination org of an inter-org transfer)."""
        token = secrets.token_hex(8)
        key = keys.transfer(token)
        fields = {"attendance": att_id, "kind": kind, "target": target, "actor": actor, "replaces": replaces,
                  "org": org}
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

    # -- inter-org transfers asked for through the API ------------------------------------
    def start_org_transfer(self, att_id: str, fields: dict[str, str]) -> None:
        key = keys.org_transfer(att_id)
        with self.r.pipeline(transaction=True) as p:
            p.delete(key)
            p.hset(key, mapping={**fields, "status": Progress.PENDING.value})
            p.expire(key, ORG_TRANSFER_SECONDS)
            p.execute()

    def org_transfer(self, att_id: str) -> dict[str, str]:
        return self.r.hgetall(keys.org_transfer(att_id))

    def finish_org_transfer(self, att_id: str, progress: Progress, reason: str, at: float) -> dict[str, str]:
        """Pending -> succeeded or failed, once (a NOTIFY and the new call's answer may both
        tell); a failure gives the attendance back its one inter-org transfer. The transfer
        as it was when pending, or {} when it was not pending."""
        raw = self.r.eval(_FINISH_ORG_TRANSFER, 2, keys.org_transfer(att_id), keys.attendance(att_id),
                          progress.value, reason, str(at), "1" if progress is Progress.FAILED else "0")
        return dict(zip(raw[::2], raw[1::2], strict=True)) if raw else {}


def _numbered(data: dict[str, str], name: re.Pattern[str]) -> list[str]:
    """The values of a hash's fields named like `name` (legs, events), in their numbers' order."""
    found = []
    for field, value in data.items():
        if m := name.fullmatch(field):
            found.append((int(m.group(1)), value))
    return [value for _, value in sorted(found)]
