"""Attendances, their legs and history, and transfers announced in a REFER.

One hash per attendance holds everything kept for the retention period
(EDGE_HISTORY_RETENTION_DAYS): the record's fields, its legs (`l0`, `l1`, ... = Call-ID) and
its history (`e1`, `e2`, ... in order, counted by `n`), each event a short JSON array that
names its leg by index. Small values keep the hash in Redis' compact listpack encoding: a
typical call costs one key of well under 1 KB (a stream per attendance preallocates 4 KB).
The Call-ID -> attendance keys live only as long as a call can (CALL_RECORD_TTL), and the
global stream `edge:history`, for consumers, is capped by length and age.

Each write of an attendance's history (its creation, a new leg, events) is one EVALSHA of
_WRITE, which updates the hash, the global stream and the agents' recent lists inside Redis:
a SIP worker packs and parses one command instead of a dozen.
"""

from __future__ import annotations

import json
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
from kemi_app.state.scripts import Script, execute

RECENT_PER_AGENT = 50
GLOBAL_STREAM_MAXLEN = 100_000
EVENTS_PER_ATTENDANCE = 1_000  # the oldest go first beyond this
TRANSFER_TOKEN_SECONDS = 120
_LEG = re.compile(r"l(\d+)")
_EVENT = re.compile(r"e(\d+)")

# One history write of one attendance, in Redis: what a SIP worker sends is one EVALSHA.
# KEYS: the attendance hash, the global stream, the Call-ID key of the leg it links (only when
# it links one), then the recent lists of the agents its events name. ARGV[1]: JSON (see
# Attendances._write_args). `fresh`: the attendance is new (create), so it has no legs, events
# nor place in any recent list yet. An attendance that is gone (expired) is not revived by a
# late event; the global stream and the recent lists still get it, as they always did.
_WRITE = Script("""
local a = cjson.decode(ARGV[1])
local key, att = KEYS[1], a.att
local first_recent = 3
if a.link ~= '' then
  redis.call('SET', KEYS[3], att, 'EX', a.link_ttl)
  first_recent = 4
end
local stored = a.fresh or redis.call('EXISTS', key) == 1
if stored then
  -- n and the legs (l0, l1, ...: Call-ID -> index), read once for every event of the write
  local n, legs, count = 0, {}, 0
  if not a.fresh then
    local fields = {'n'}
    repeat
      local from = count
      for i = from, from + 7 do fields[#fields + 1] = 'l' .. i end
      local got = redis.call('HMGET', key, unpack(fields))
      if from == 0 then n = tonumber(got[1]) or 0 end
      for i = #got - 7, #got do
        if not got[i] then break end
        legs[got[i]] = legs[got[i]] or count
        count = count + 1
      end
      fields = {}
    until count < from + 8
  end
  local set, first = a.set, n
  if a.link ~= '' and legs[a.link] == nil then
    legs[a.link] = count
    set[#set + 1] = 'l' .. count
    set[#set + 1] = a.link
  end
  for _, e in ipairs(a.events) do
    n = n + 1
    local leg = 'null'
    if e[1] ~= '' then leg = legs[e[1]] and tostring(legs[e[1]]) or cjson.encode(e[1]) end
    set[#set + 1] = 'e' .. n
    set[#set + 1] = '[' .. leg .. ',' .. e[2]
  end
  if n > first then
    set[#set + 1] = 'n'
    set[#set + 1] = tostring(n)
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  local old = {}  -- beyond the cap the oldest events go
  for m = math.max(first, a.cap) + 1, n do old[#old + 1] = 'e' .. (m - a.cap) end
  if #old > 0 then redis.call('HDEL', key, unpack(old)) end
  redis.call('EXPIRE', key, a.ttl)
end
for _, e in ipairs(a.events) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', a.maxlen, '*', unpack(e[3]))
end
for i = first_recent, #KEYS do
  -- an agent's list already headed by this attendance (the answer and end of its own call) stays
  if a.fresh or redis.call('LINDEX', KEYS[i], 0) ~= att then
    if not a.fresh then redis.call('LREM', KEYS[i], 0, att) end
    redis.call('LPUSH', KEYS[i], att)
    redis.call('LTRIM', KEYS[i], 0, a.recent - 1)
  end
  redis.call('EXPIRE', KEYS[i], a.ttl)
end
if a.minid ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', '~', a.minid) end
return stored and 1 or 0
""")


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
        """The record, its first leg and its first events, atomically in one script call."""
        # Age trimming once per attendance is enough; whole stream nodes go (approximate).
        minid = f"{int((time.time() - self.retention) * 1000)}-0"
        self._send([self._write_args(att.id, [first, *more], link=call_id, fields=att.to_record(), fresh=True,
                                      minid=minid)])

    def attendance(self, att_id: str) -> Attendance | None:
        data = self.r.hgetall(keys.attendance(att_id))
        return Attendance.from_record(data, _numbered(data, _LEG)) if "id" in data else None

    def attendance_by_call(self, call_id: str) -> Attendance | None:
        att_id = self.r.get(keys.call_attendance(call_id))
        return self.attendance(att_id) if att_id else None

    def link_leg(self, att_id: str, call_id: str, event: Event) -> None:
        self._send([self._write_args(att_id, [event], link=call_id)])

    def link_transfer(self, att_id: str, call_id: str, event: Event, *, transferred: bool, queue: str) -> None:
        """A transferee's new leg joins the attendance and is the customer's call from now on;
        an agent's transfer marks the call transferred, and entering a queue marks it as come
        through one (a call an IVR sends to a queue is marked here, not at its creation)."""
        marks = {"customer_call": call_id}
        if transferred:
            marks["transferred"] = "1"
        if queue:
            marks |= {"entered_through_queue": "1", "queue": queue}
        self._send([self._write_args(att_id, [event], link=call_id, fields=marks)])

    def continue_in_org(self, source_id: str, att: Attendance, call_id: str, source_event: Event,
                        first: Event) -> None:
        """An inter-org transfer's new leg starts the destination org's own attendance, linked
        both ways with the source's: each company keeps the call's flow in its own history."""
        self._send([
            self._write_args(att.id, [first], link=call_id, fields=att.to_record(), fresh=True),
            self._write_args(source_id, [source_event], fields={"transferred_to": att.id}),
        ])

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
    def _write_args(self, att_id: str, events: list[Event], *, link: str = "", fields: dict[str, str] | None = None,
                    fresh: bool = False, minid: str = "") -> tuple[list[str], str]:
        """The keys and argument of one _WRITE: `events` (and the leg `link`, if any; `fields`
        set on the record) for the attendance's hash, the global stream and the agents' recent
        lists."""
        link_key = [keys.call_attendance(link)] if link else []
        payload = {
            "att": att_id, "ttl": self.retention, "cap": EVENTS_PER_ATTENDANCE, "maxlen": self.history_maxlen,
            "recent": RECENT_PER_AGENT, "fresh": fresh, "minid": minid,
            # The Call-ID key is only needed while the leg is up (transfers, conferences, vanished agents).
            "link": link, "link_ttl": min(self.retention, CALL_RECORD_TTL),
            "set": [x for pair in (fields or {}).items() for x in pair],
            "events": [[e.call_id, e.compact_tail(), [x for pair in e.to_fields().items() for x in pair]]
                       for e in events],
        }
        keys_ = [keys.attendance(att_id), keys.HISTORY, *link_key, *recent_lists(events)]
        return keys_, json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

    def _send(self, writes: list[tuple[list[str], str]]) -> None:
        """Writes on their own: one EVALSHA, or a transaction of them. A Redis that lost the
        script (a restart, a failover) gets it loaded and the writes again."""
        if len(writes) == 1:
            _WRITE.call(self.r, writes[0][0], [writes[0][1]])
        elif writes:
            with self.r.pipeline(transaction=True) as p:
                self._queue(p, writes)
                execute(p)

    def record_events(self, *events: Event) -> None:
        self._send(self._writes(events))

    def queue_events(self, p: Pipeline, *events: Event) -> None:
        """Queues `events` on `p` (a transaction) for the caller to send with its own writes, by
        scripts.execute(p): one command per attendance."""
        self._queue(p, self._writes(events))

    def _writes(self, events: tuple[Event, ...]) -> list[tuple[list[str], str]]:
        """One write per attendance, its events in order."""
        return [self._write_args(att_id, [e for e in events if e.attendance == att_id])
                for att_id in dict.fromkeys(e.attendance for e in events)]

    def _queue(self, p: Pipeline, writes: list[tuple[list[str], str]]) -> None:
        for keys_, payload in writes:
            _WRITE.queue(p, keys_, [payload])

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


def recent_lists(events: list[Event]) -> list[str]:
    """The recent lists `events` go to, each once: those of the agents they name."""
    return list(dict.fromkeys(keys.recent(e.org, ext) for e in events for ext in (e.actor, e.target)
                              if is_agent_ext(ext)))


def _numbered(data: dict[str, str], name: re.Pattern[str]) -> list[str]:
    """The values of a hash's fields named like `name` (legs, events), in their numbers' order."""
    found = []
    for field, value in data.items():
        if m := name.fullmatch(field):
            found.append((int(m.group(1)), value))
    return [value for _, value in sorted(found)]
