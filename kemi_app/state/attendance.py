"""Attendances, their legs and history, and transfers announced in a REFER.

One hash per attendance holds everything kept for the retention period
(EDGE_HISTORY_RETENTION_DAYS): the record's fields, its legs (`l0`, `l1`, ... = Call-ID) and
its history (`e1`, `e2`, ... in order, counted by `n`), each event a short JSON array that
names its leg by index. Small values keep the hash in Redis' compact listpack encoding: a
typical call costs one key of well under 1 KB (a stream per attendance preallocates 4 KB).
The Call-ID -> attendance keys live only as long as a call can (CALL_RECORD_TTL), and the
global stream `edge:history`, for consumers, is capped by length and age.

Writes of attendances' history (a creation, a new leg, events) go to Redis as one EVALSHA of
WRITE, which updates the hashes, the global stream and the agents' recent lists inside Redis;
a dialog event's agents' side (state/dialogevents.py) rides in the same script call. In
Kamailio a SIP worker does not send them: it hands them to the history writer process
(`sink`, sip/history.py), which sends what gathered every few milliseconds in one call. Reads
that a decision or the API relies on first wait (bounded) for this node's writes to land.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.extensions import is_agent_ext
from kemi_app.policy.attendance import (
    ANSWER,
    END,
    OFFER,
    RING,
    Attendance,
    Event,
    in_message_order,
    refusal_written,
)
from kemi_app.policy.transfer import Progress
from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_RECORD_TTL, DIALOG_EVENT_LUA, CallEnd
from kemi_app.state.base import Store
from kemi_app.state.queues import AGENT_CHANGED_LUA
from kemi_app.state.scripts import Script

RECENT_PER_AGENT = 50
GLOBAL_STREAM_MAXLEN = 100_000
EVENTS_PER_ATTENDANCE = 1_000  # the oldest go first beyond this
TRANSFER_TOKEN_SECONDS = 120
TRIM_EVERY = 1.0  # seconds between two age trims of the global stream by one process
# A recent list's TTL is set when the list is made and then renewed at most once an hour by
# one process: it outlives its newest attendance by the retention, less at most an hour.
RECENT_RENEW_EVERY = 3600.0
RECENT_REMEMBERED = 100_000  # lists whose renewal a process remembers (forgotten, renewed once more)
_RECENT_PREFIX = keys.recent("", "")[:-2]  # every recent list's key starts with it
_LEG = re.compile(r"l(\d+)")
_EVENT = re.compile(r"e(\d+)")
# A call's events after its start keep the TTLs its start (or a later transfer, conference...)
# set: retention counts from there, and they spend no EXPIRE.
_KEEP_TTLS = frozenset((RING, OFFER, ANSWER, END))
# Events whose agents an earlier event of the attendance named (its start, an offer, a transfer,
# a conference): the attendance is in their recent lists already, in the order they joined it.
_NAMED_BEFORE = frozenset((RING, ANSWER, END))

# History writes of any number of attendances, in their order, in Redis: one EVALSHA. KEYS[1]:
# the global stream, then each write's keys: its attendance hash, the Call-ID key of the leg it
# links (only when it links one), the recent lists of the agents its events name. ARGV[1]: JSON
# (see Attendances._batch_args). `fresh`: the attendance is new (create), so it has no legs,
# events nor place in any recent list yet. The writes of one attendance become one HSET and one
# EXPIRE; a recent list gets one LPUSH (of every attendance it gains), LTRIM when over its
# length, and EXPIRE when the LPUSH made it or it is in `renew` (RECENT_RENEW_EVERY). `hold`:
# the write's events come after their call's start (ring, offer, answer, end: _KEEP_TTLS), so
# an attendance or a recent list it does not change keeps its TTL. An
# attendance that is gone (expired) is not revived by a late event; the global stream and the
# recent lists still get it, as they always did. A dialog event's write (`dlg`: its agents'
# calls in progress, agentstate.DIALOG_EVENT_LUA) runs in its place in the order; it shares no
# key with the history's. Returns what the ended calls stop (dialog_event's `ends`).
WRITE = Script(AGENT_CHANGED_LUA + DIALOG_EVENT_LUA + """
local b = cjson.decode(ARGV[1])
local atts, att_order, lists, list_order = {}, {}, {}, {}
local renew = {}
for _, name in ipairs(b.renew) do renew[name] = true end
local k = 2
local ends = {}
for _, w in ipairs(b.writes) do
  if w.dlg then
    k = dialog_event(w.dlg, k, ends)
  else
    local key, att = KEYS[k], w.att
    k = k + 1
    if w.link ~= '' then
      redis.call('SET', KEYS[k], att, 'EX', b.link_ttl)
      k = k + 1
    end
    local s = atts[key]
    if s == nil then
      -- n and the legs (l0, l1, ...: Call-ID -> index), read once per batch
      s = {n = 0, legs = {}, count = 0, set = {}, stored = w.fresh}
      if not w.fresh then
        local fields = {'n', 'id'}
        repeat
          local from = s.count
          for i = from, from + 7 do fields[#fields + 1] = 'l' .. i end
          local got = redis.call('HMGET', key, unpack(fields))
          if from == 0 then
            s.n = tonumber(got[1]) or 0
            s.stored = got[1] ~= false or got[2] ~= false
          end
          for i = #got - 7, #got do
            if not got[i] then break end
            s.legs[got[i]] = s.legs[got[i]] or s.count
            s.count = s.count + 1
          end
          fields = {}
        until s.count < from + 8
      end
      s.first = s.n
      atts[key] = s
      att_order[#att_order + 1] = key
    end
    if w.fresh then s.stored = true end
    if not w.hold then s.touch = true end
    if s.stored then
      for _, x in ipairs(w.set) do s.set[#s.set + 1] = x end
      if w.link ~= '' and s.legs[w.link] == nil then
        s.legs[w.link] = s.count
        s.set[#s.set + 1] = 'l' .. s.count
        s.set[#s.set + 1] = w.link
        s.count = s.count + 1
      end
      for _, e in ipairs(w.events) do
        s.n = s.n + 1
        local leg = 'null'
        if e[1] ~= '' then leg = s.legs[e[1]] and tostring(s.legs[e[1]]) or cjson.encode(e[1]) end
        s.set[#s.set + 1] = 'e' .. s.n
        s.set[#s.set + 1] = '[' .. leg .. ',' .. e[2]
      end
    end
    for _, e in ipairs(w.events) do
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', b.maxlen, '*', unpack(e[3]))
    end
    for _ = 1, w.lists do
      local name = KEYS[k]
      k = k + 1
      local l = lists[name]
      if l == nil then
        l = {push = {}, drop = {}}
        lists[name] = l
        list_order[#list_order + 1] = name
      end
      if not w.hold then l.touch = true end
      -- an agent's list already headed by this attendance (the answer and end of its own call) stays
      if l.head == nil and not w.fresh then l.head = redis.call('LINDEX', name, 0) end
      if w.fresh or l.head ~= att then
        if not w.fresh then
          for i = #l.push, 1, -1 do if l.push[i] == att then table.remove(l.push, i) end end
          l.drop[att] = true
        end
        l.push[#l.push + 1] = att
      end
      l.head = att
    end
  end
end
for _, key in ipairs(att_order) do
  local s = atts[key]
  if s.stored then
    if s.n > s.first then
      s.set[#s.set + 1] = 'n'
      s.set[#s.set + 1] = tostring(s.n)
    end
    if #s.set > 0 then redis.call('HSET', key, unpack(s.set)) end
    local old = {}  -- beyond the cap the oldest events go
    for m = math.max(s.first, b.cap) + 1, s.n do old[#old + 1] = 'e' .. (m - b.cap) end
    if #old > 0 then redis.call('HDEL', key, unpack(old)) end
    if s.touch then redis.call('EXPIRE', key, b.ttl) end
  end
end
for _, name in ipairs(list_order) do
  local l = lists[name]
  for att in pairs(l.drop) do redis.call('LREM', name, 0, att) end
  -- trimmed only when over its length (LPUSH says the length)
  local length = #l.push > 0 and redis.call('LPUSH', name, unpack(l.push)) or 0
  if length > b.recent then redis.call('LTRIM', name, 0, b.recent - 1) end
  local made = #l.push > 0 and length == #l.push  -- it held nothing: no TTL yet
  if (l.touch or #l.push > 0) and (made or renew[name]) then redis.call('EXPIRE', name, b.ttl) end
end
if b.minid ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', '~', b.minid) end
return ends
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


class Writes(NamedTuple):
    """History writes ready for WRITE, in their order: their keys, their JSON objects joined by
    commas (a piece of ARGV[1]'s `writes` array) and the newest age cut among them ('' if none).
    Pieces join by concatenation: the history writer never decodes them (sip/history.py)."""

    keys: list[str]
    json: str
    minid: str
    dialog: bool = False  # holds a dialog event that changes agents' state (HistorySink.settle)
    started: tuple[str, ...] = ()  # the agents ("org:ext") whose call it starts (HistorySink.starting)


class HistorySink(Protocol):
    """Where a Kamailio process hands its history writes (sip/history.py): a writer process of
    their own sends them to Redis in order, so SIP workers never wait on them."""

    def put(self, writes: Writes) -> bool:
        """Takes the writes, in order; False when it cannot (full): the caller writes them itself."""

    def settle(self, dialogs_only: bool = False) -> None:
        """Returns once the writes handed over before it was called are in Redis (bounded);
        `dialogs_only`: the writes of dialog events only (Writes.dialog)."""

    def dialogs_pending(self) -> bool:
        """Is a dialog event handed over not yet in Redis?"""

    def starting(self, agent: str) -> bool:
        """Is a call start of `agent` ("org:ext") handed over not yet in Redis?"""


@metrics.timed_state
class Attendances(Store):
    history_maxlen: int = GLOBAL_STREAM_MAXLEN  # entries of the global stream, approximately
    sink: HistorySink | None = None  # set in Kamailio: the history writer process takes the writes

    def __init__(self, client: redis.Redis, retention_days: int) -> None:
        super().__init__(client)
        self.retention = retention_days * 86400  # seconds
        self._trim_due = 0.0  # monotonic time of the global stream's next age trim
        self._renewed: dict[str, float] = {}  # recent list -> monotonic time this process renewed its TTL

    def create_attendance(self, att: Attendance, call_id: str, first: Event, *more: Event) -> None:
        """The record, its first leg and its first events, atomically in one script call."""
        self._send(self._write_args(att.id, [first, *more], link=call_id, fields=att.to_record(), fresh=True,
                                    minid=self._age_cut()))

    def create_refused(self, att: Attendance, call_id: str, actor: str, target: str, rule: str, reason: str) -> None:
        """A call refused before it went anywhere: create_attendance with its start, refused and
        end events, the same writes built without an Event apiece (policy refusal_written)."""
        lists = [keys.recent(att.org, ext) for ext in dict.fromkeys((actor, target)) if is_agent_ext(ext)]
        events = refusal_written(att.id, att.created_at, att.org, call_id, actor, target, rule, reason)
        self._send(_write(att.id, events, lists, link=call_id, fields=att.to_record(), fresh=True,
                          minid=self._age_cut(), hold=False))

    def _age_cut(self) -> str:
        """The global stream's age trim, once per attendance (whole stream nodes go: approximate)."""
        return f"{int((time.time() - self.retention) * 1000)}-0"

    def attendance(self, att_id: str) -> Attendance | None:
        self.settle()
        data = self.r.hgetall(keys.attendance(att_id))
        return Attendance.from_record(data, _numbered(data, _LEG)) if "id" in data else None

    def attendance_by_call(self, call_id: str) -> Attendance | None:
        self.settle()
        att_id = self.r.get(keys.call_attendance(call_id))
        return self.attendance(att_id) if att_id else None

    def link_leg(self, att_id: str, call_id: str, event: Event) -> None:
        self._send(self._write_args(att_id, [event], link=call_id))

    def link_transfer(self, att_id: str, call_id: str, event: Event, *, transferred: bool, queue: str) -> None:
        """A transferee's new leg joins the attendance and is the customer's call from now on;
        an agent's transfer marks the call transferred, and entering a queue marks it as come
        through one (a call an IVR sends to a queue is marked here, not at its creation)."""
        marks = {"customer_call": call_id}
        if transferred:
            marks["transferred"] = "1"
        if queue:
            marks |= {"entered_through_queue": "1", "queue": queue}
        self._send(self._write_args(att_id, [event], link=call_id, fields=marks))

    def continue_in_org(self, source_id: str, att: Attendance, call_id: str, source_event: Event,
                        first: Event) -> None:
        """An inter-org transfer's new leg starts the destination org's own attendance, linked
        both ways with the source's: each company keeps the call's flow in its own history."""
        self._send(self._write_args(att.id, [first], link=call_id, fields=att.to_record(), fresh=True),
                   self._write_args(source_id, [source_event], fields={"transferred_to": att.id}))

    def current_attendance(self, org: str, ext: str) -> str:
        """The attendance of a call the agent is on now ('' if none)."""
        self.settle()  # its calls in progress and their attendances come from the history writer
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
        self.settle()  # after the attendance's creation, which sets the mark's initial '0'
        key = keys.attendance(att_id)
        with self.r.pipeline(transaction=True) as p:
            p.hsetnx(key, "interorg_transferred_at", str(at))
            p.hset(key, "interorg_transferred", "1")
            first, _ = p.execute()
        return bool(first)

    # -- history ----------------------------------------------------------------
    def _write_args(self, att_id: str, events: list[Event], *, link: str = "", fields: dict[str, str] | None = None,
                    fresh: bool = False, minid: str = "") -> tuple[list[str], dict[str, Any]]:
        """One write: `events` (and the leg `link`, if any; `fields` set on the record) for the
        attendance's hash, the global stream and the agents' recent lists. Its keys, and what
        WRITE reads of it."""
        hold = not fresh and not fields and bool(events) and all(e.event in _KEEP_TTLS for e in events)
        written: list[list[object]] = [
            [e.call_id, e.compact_tail(), [x for pair in e.to_fields().items() for x in pair]] for e in events]
        return _write(att_id, written, recent_lists(events), link=link, fields=fields, fresh=fresh, minid=minid,
                      hold=hold)

    def _batch_args(self, pieces: list[Writes]) -> tuple[list[str], list[str], list[str]]:
        """The keys and argument of one WRITE of `pieces`, in their order, and the recent lists
        it renews (forgotten if the write fails: _renewal_failed)."""
        # The Call-ID key is only needed while the leg is up (transfers, conferences, vanished agents).
        head = (f'{{"ttl":{self.retention},"cap":{EVENTS_PER_ATTENDANCE},"maxlen":{self.history_maxlen},'
                f'"recent":{RECENT_PER_AGENT},"link_ttl":{min(self.retention, CALL_RECORD_TTL)},')
        minid = max((p.minid for p in pieces), default="")  # the newest age cut of the batch
        now = time.monotonic()
        if minid and now < self._trim_due:  # whole stream nodes go: once a second is as exact
            minid = ""
        elif minid:
            self._trim_due = now + TRIM_EVERY
        keys_ = [keys.HISTORY, *(k for p in pieces for k in p.keys)]
        renew = self._renew_due(keys_, now)
        return keys_, [f'{head}"minid":{json.dumps(minid)},"renew":{_JSON(renew)},'
                       f'"writes":[{",".join(p.json for p in pieces)}]}}'], renew

    def _renew_due(self, keys_: list[str], now: float) -> list[str]:
        """The recent lists among `keys_` this process has not renewed for RECENT_RENEW_EVERY,
        remembered as renewed now."""
        cutoff = now - RECENT_RENEW_EVERY
        due = [k for k in dict.fromkeys(keys_)
               if k.startswith(_RECENT_PREFIX) and self._renewed.get(k, cutoff) <= cutoff]
        if len(self._renewed) + len(due) > RECENT_REMEMBERED:
            self._renewed.clear()
        self._renewed.update(dict.fromkeys(due, now))
        return due

    def _renewal_failed(self, renew: list[str]) -> None:
        for name in renew:
            self._renewed.pop(name, None)

    def _send(self, *writes: tuple[list[str], dict[str, Any]]) -> None:
        """Writes handed to the history writer process in Kamailio, else (and when its queue is
        full) sent now: one EVALSHA."""
        if not writes:
            return
        piece = encoded(writes)
        if self.sink is None or not self.sink.put(piece):
            self.write_batch([piece])

    def write_batch(self, pieces: list[Writes]) -> list[tuple[str, CallEnd]]:
        """The writes of `pieces` in Redis now, in their order, in one script call (reloaded if
        Redis lost it). Returns the ended calls that have supervisors or a recording to stop."""
        keys_, args, renew = self._batch_args(pieces)
        try:
            ends = WRITE.call(self.r, keys_, args)
        except Exception:
            self._renewal_failed(renew)
            raise
        return [(call_id, CallEnd(sorted(supervisors), recorded)) for call_id, supervisors, recorded in ends]

    def settle(self, dialogs_only: bool = False) -> None:
        """A read that a decision or the API relies on sees this node's history writes so far
        (`dialogs_only`: its dialog events' writes)."""
        if self.sink is not None:
            self.sink.settle(dialogs_only)

    def record_events(self, *events: Event) -> None:
        self._send(*self.writes_of(events))

    def queue_events(self, p: Pipeline, *events: Event, later: list[Event] | None = None) -> None:
        """Queues `events` on `p` (a transaction) for the caller to send with its own writes, by
        scripts.execute(p): one command. In Kamailio they go to the history writer instead: at
        once, or, given `later` (a transaction that may be retried), kept there for
        send_later once the transaction landed."""
        if self.sink is None:
            if writes := self.writes_of(events):
                keys_, args, _ = self._batch_args([encoded(writes)])
                WRITE.queue(p, keys_, args)
        elif later is not None:
            later.extend(events)
        else:
            self.record_events(*events)

    def send_later(self, later: list[Event]) -> None:
        """The events queue_events kept for after a transaction."""
        self.record_events(*later)

    def writes_of(self, events: tuple[Event, ...]) -> list[tuple[list[str], dict[str, Any]]]:
        """One write per attendance, its events in order."""
        return [self._write_args(att_id, [e for e in events if e.attendance == att_id])
                for att_id in dict.fromkeys(e.attendance for e in events)]

    def attendance_history(self, att_id: str) -> list[Event]:
        self.settle()
        data = self.r.hgetall(keys.attendance(att_id))
        legs = _numbered(data, _LEG)
        return in_message_order([Event.from_compact(att_id, stored, legs) for stored in _numbered(data, _EVENT)])

    def recent_attendances(self, org: str, ext: str, limit: int = 20) -> list[str]:
        self.settle()
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
        self.settle()
        raw = self.r.eval(_FINISH_ORG_TRANSFER, 2, keys.org_transfer(att_id), keys.attendance(att_id),
                          progress.value, reason, str(at), "1" if progress is Progress.FAILED else "0")
        return dict(zip(raw[::2], raw[1::2], strict=True)) if raw else {}


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # made once, not per call


def encoded(writes: Sequence[tuple[list[str], dict[str, Any]]]) -> Writes:
    """`writes` (Attendances._write_args) as one piece of a WRITE batch."""
    if len(writes) == 1:  # nearly always
        keys_, write = writes[0]
        return Writes(keys_, _JSON(write), write.get("minid", ""))
    return Writes([k for keys_, _ in writes for k in keys_], _JSON([w for _, w in writes])[1:-1],
                  max(w.get("minid", "") for _, w in writes))


def _write(att_id: str, events: list[list[object]], lists: list[str], *, link: str, fields: dict[str, str] | None,
           fresh: bool, minid: str, hold: bool) -> tuple[list[str], dict[str, Any]]:
    """One write of WRITE: `events` as it reads them ([call_id, compact tail, stream fields]),
    for the attendance's hash, the global stream and the recent `lists`. Its keys, and its object."""
    link_key = [keys.call_attendance(link)] if link else []
    write = {
        "att": att_id, "fresh": fresh, "minid": minid, "link": link, "lists": len(lists), "hold": hold,
        "set": [x for pair in (fields or {}).items() for x in pair], "events": events,
    }
    return [keys.attendance(att_id), *link_key, *lists], write


def recent_lists(events: list[Event]) -> list[str]:
    """The recent lists `events` go to, each once: those of the agents they name first."""
    return list(dict.fromkeys(keys.recent(e.org, ext) for e in events if e.event not in _NAMED_BEFORE
                              for ext in (e.actor, e.target) if is_agent_ext(ext)))


def _numbered(data: dict[str, str], name: re.Pattern[str]) -> list[str]:
    """The values of a hash's fields named like `name` (legs, events), in their numbers' order."""
    found = []
    for field, value in data.items():
        if m := name.fullmatch(field):
            found.append((int(m.group(1)), value))
    return [value for _, value in sorted(found)]
