"""A dialog event's writes (agents' calls in progress, the attendance's history) in one
transaction: one round trip per answer or end. The agents' side, queues included, is one
script call; the end of a call also takes its supervisors and clears its "being recorded"
mark in it (then the call's supervision and recordings are stopped)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis

from kemi_app import metrics
from kemi_app.policy.attendance import Event
from kemi_app.state import keys
from kemi_app.state.agentstate import CALL_ENDED_MEMORY, CALL_RECORD_TTL, CallsChange
from kemi_app.state.attendance import Attendances
from kemi_app.state.base import Store
from kemi_app.state.queues import AGENT_CHANGED_LUA, PREFIX, WAKE_MEMORY
from kemi_app.state.scripts import Script, execute

# KEYS: the dialog's ended-marker, the node's call records set, the call's supervisors set and
# "being recorded" mark, then per agent: its calls hash, idle time and offer lock.
# ARGV: prefix, org, 'start' / 'end' / '' (no agents), call key, now, record TTL, ended-marker
# TTL, wake list TTL, '1' when the call ended, then per agent: ext, node-calls member ('': no
# node). A start whose dialog already ended (two workers handled its events out of order)
# writes no call record: the agent would stay in-call for hours. Returns {the supervisors'
# Call-IDs, the attendance being recorded}, taken only when the call ended.
DIALOG_EVENT = AGENT_CHANGED_LUA + """
local P, org, mode, call, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local agents = (#KEYS - 4) / 3
local function agent_key(i, n) return KEYS[4 + 3 * (i - 1) + n] end
local function ext(i) return ARGV[8 + 2 * i] end
-- Each command below covers every agent where it can: Redis counts commands, not keys.
local members, offers, memberof = {}, {}, {}
for i = 1, agents do
  if ARGV[9 + 2 * i] ~= '' then members[#members + 1] = ARGV[9 + 2 * i] end
  offers[i] = agent_key(i, 3)
  memberof[i] = P .. 'memberof:' .. org .. ':' .. ext(i)
end
-- Agents in no queue (one check for all of them) hold no offer lock and have no queue state
-- to update. A lone agent's queues are read once, here.
local queues = agents == 1 and redis.call('smembers', memberof[1]) or nil
local queued = (queues and #queues > 0) or (agents > 1 and redis.call('exists', unpack(memberof)) > 0)
if mode == 'start' then
  if redis.call('exists', KEYS[1]) == 0 then
    for i = 1, agents do
      redis.call('hset', agent_key(i, 1), call, now)
      redis.call('expire', agent_key(i, 1), ttl)
    end
    if #members > 0 then redis.call('sadd', KEYS[2], unpack(members)) end
  end
  -- A queue member's offer lock ends here, not at its answer: in between, the member would
  -- look free to another queue call.
  if queued then redis.call('del', unpack(offers)) end
elseif mode == 'end' then
  for i = 1, agents do
    redis.call('hdel', agent_key(i, 1), call)
    redis.call('set', agent_key(i, 2), now, 'EX', ttl)
  end
  if #members > 0 then redis.call('srem', KEYS[2], unpack(members)) end
  redis.call('set', KEYS[1], '1', 'EX', ARGV[7])
end
-- An end just wrote the agents' idle time: no need to read it back.
local idle = mode == 'end' and now or nil
if queued then for i = 1, agents do agent_changed(P, org, ext(i), ARGV[8], idle, queues) end end
-- Most calls are neither supervised nor recorded: one check, then nothing to take.
if ARGV[9] ~= '1' or redis.call('exists', KEYS[3], KEYS[4]) == 0 then return {{}, ''} end
local supervisors = redis.call('smembers', KEYS[3])
redis.call('del', KEYS[3])
return {supervisors, redis.call('getdel', KEYS[4]) or ''}
"""
_dialog_event = Script(DIALOG_EVENT)


@dataclass(frozen=True)
class CallEnd:
    supervisors: list[str] = field(default_factory=list)  # their Call-IDs, unindexed
    recorded: str = ""  # the attendance whose recording stops


def dialog_event_call(calls: CallsChange | None, ended_call: str) -> tuple[list[str], list[str]]:
    """DIALOG_EVENT's keys and arguments for `calls` (None: no agent on the call) and the call
    that ended ('' on an answer)."""
    c = calls or CallsChange("", [], ended_call, 0.0, started=False)
    mode = "" if calls is None else "start" if c.started else "end"
    keys_ = [keys.call_ended(c.dialog or c.call_key), keys.node_calls(c.node),
             keys.supervised_call(ended_call), keys.recording_call(ended_call)]
    args = [PREFIX, c.org_id, mode, c.call_key, json.dumps(c.now), str(CALL_RECORD_TTL), str(CALL_ENDED_MEMORY),
            str(WAKE_MEMORY), "1" if ended_call else "0"]
    for ext in c.exts:
        keys_ += [keys.calls(c.org_id, ext), keys.idle(c.org_id, ext), keys.offer(c.org_id, ext)]
        args += [ext, f"{c.org_id}|{ext}|{c.call_key}" if c.node else ""]
    return keys_, args


@metrics.timed_state
class DialogEvents(Store):
    def __init__(self, client: redis.Redis, history: Attendances) -> None:
        super().__init__(client)
        self.history = history

    def record(self, calls: CallsChange | None, *events: Event, ended_call: str = "") -> CallEnd:
        """What must stop with `ended_call`: its supervisors (state.supervision) and the attendance
        being recorded."""
        agents_change = calls is not None or bool(ended_call)
        if not agents_change and not events:
            return CallEnd()
        if self.history.sink is not None:  # in Kamailio the history goes to its writer: one script call
            self.history.record_events(*events)
            if not agents_change:
                return CallEnd()
            supervisors, recorded = _dialog_event.call(self.r, *dialog_event_call(calls, ended_call))
            return CallEnd(sorted(supervisors), recorded)
        with self.r.pipeline(transaction=True) as p:
            if agents_change:
                _dialog_event.queue(p, *dialog_event_call(calls, ended_call))
            self.history.queue_events(p, *events)
            p.transaction = len(p.command_stack) > 1  # one script call is atomic on its own
            results = execute(p)
        if not agents_change:
            return CallEnd()
        supervisors, recorded = results[0]
        return CallEnd(sorted(supervisors), recorded)
