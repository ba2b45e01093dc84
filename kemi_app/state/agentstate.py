"""Agent state: the chosen status (available / paused), login sessions, and calls in progress.

Presence is derived at read time (kemi_app.policy.presence): bindings expire lazily, so
"offline" is computed from them rather than stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.cluster import reachable
from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.presence import Presence, derive
from kemi_app.policy.reconcile import NodeCall
from kemi_app.policy.registration import Binding
from kemi_app.policy.session import LoginSession
from kemi_app.provisioning.errors import Missing
from kemi_app.state import keys
from kemi_app.state.base import Store
from kemi_app.state.codec import decode, encode
from kemi_app.state.directory import Directory
from kemi_app.state.queues import PREFIX, WAKE_MEMORY, queue_agent_changed
from kemi_app.state.scripts import execute

CALL_RECORD_TTL = 13 * 3600  # longer than the dialog module's default_timeout (12 h)
CALL_ENDED_MEMORY = 60  # how long an ended call's key is remembered against a late start
# KEYS: session hash. ARGV: field, value. Written only into a live login session: a new login
# replaces the hash, so the choice lasts exactly one session.
SET_IN_SESSION = """
if redis.call('hexists', KEYS[1], 'started_at') == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class CallsChange:
    """Agents' calls in progress on a dialog event: a call starts (answered) or ends.
    `node` (the edge node holding the dialog) lets it forget its calls when it restarts.
    `dialog` names the dialog itself (Call-ID and tags); `call_key` is the record's field."""

    org_id: str
    exts: list[str]
    call_key: str
    now: float
    started: bool
    node: str = ""
    dialog: str = ""


@dataclass(frozen=True)
class CallEnd:
    """What stops with a call that ended: its supervisors and its recording."""

    supervisors: list[str] = field(default_factory=list)  # their Call-IDs, unindexed
    recorded: str = ""  # the attendance whose recording stops


# dialog_event(d, k, ends): a dialog event's agents' side, a Lua function of the history
# writes' script (state/attendance.py), which needs AGENT_CHANGED_LUA. `d`: dialog_write's
# object; KEYS from k: the dialog's ended-marker, the node's call records set, the ended
# call's supervisors set and "being recorded" mark, then per agent: its calls hash, idle time
# and offer lock. A start whose dialog already ended (two workers handled its events out of
# order) writes no call record: the agent would stay in-call for hours. An ended call's
# supervisors and recording are taken and added to `ends` as {call, supervisors, attendance}.
# Returns the index of the next write's first key.
DIALOG_EVENT_LUA = """
local function dialog_event(d, k, ends)
  local P, org, mode, call, now, ttl = d.P, d.org, d.mode, d.call, d.now, d.ttl
  local agents = #d.exts
  local function agent_key(i, n) return KEYS[k + 3 * i + n] end
  -- Each command below covers every agent where it can: Redis counts commands, not keys.
  local members, offers, memberof = {}, {}, {}
  for i = 1, agents do
    if d.members[i] ~= '' then members[#members + 1] = d.members[i] end
    offers[i] = agent_key(i, 3)
    memberof[i] = P .. 'memberof:' .. org .. ':' .. d.exts[i]
  end
  -- Agents in no queue (one check for all of them) hold no offer lock and have no queue state
  -- to update. A lone agent's queues are read once, here.
  local queues = agents == 1 and redis.call('smembers', memberof[1]) or nil
  local queued = (queues and #queues > 0) or (agents > 1 and redis.call('exists', unpack(memberof)) > 0)
  if mode == 'start' then
    if redis.call('exists', KEYS[k]) == 0 then
      for i = 1, agents do
        redis.call('hset', agent_key(i, 1), call, now)
        -- A record its node lists is dropped by that node's reconcile, its restart or its
        -- burial (sip/reconcile.py, sip/cluster.py): only one no node lists needs a TTL.
        if d.members[i] == '' then redis.call('expire', agent_key(i, 1), ttl) end
      end
      if #members > 0 then redis.call('sadd', KEYS[k + 1], unpack(members)) end
    end
    -- A queue member's offer lock ends here, not at its answer: in between, the member would
    -- look free to another queue call.
    if queued then redis.call('del', unpack(offers)) end
  elseif mode == 'end' then
    for i = 1, agents do
      redis.call('hdel', agent_key(i, 1), call)
      -- Only a queue orders its members by idle time (queues.py agent_changed).
      if queued then redis.call('set', agent_key(i, 2), now, 'EX', ttl) end
    end
    if #members > 0 then redis.call('srem', KEYS[k + 1], unpack(members)) end
    redis.call('set', KEYS[k], '1', 'EX', d.ended_ttl)
  end
  -- An end just wrote the agents' idle time: no need to read it back.
  local idle = mode == 'end' and now or nil
  if queued then for i = 1, agents do agent_changed(P, org, d.exts[i], d.wake_ttl, idle, queues) end end
  -- Most calls are neither supervised nor recorded: one check, then nothing to take.
  if d.ended ~= '' and redis.call('exists', KEYS[k + 2], KEYS[k + 3]) > 0 then
    local supervisors = redis.call('smembers', KEYS[k + 2])
    redis.call('del', KEYS[k + 2])
    ends[#ends + 1] = {d.ended, supervisors, redis.call('getdel', KEYS[k + 3]) or ''}
  end
  return k + 4 + 3 * agents
end
"""


def dialog_write(calls: CallsChange | None, ended_call: str) -> tuple[list[str], dict[str, Any]]:
    """One write of the history writes' script for a dialog event: `calls` (None: no agent on
    the call) and the call that ended ('' on an answer). Its keys, and what dialog_event reads."""
    c = calls or CallsChange("", [], ended_call, 0.0, started=False)
    keys_ = [keys.call_ended(c.dialog or c.call_key), keys.node_calls(c.node),
             keys.supervised_call(ended_call), keys.recording_call(ended_call)]
    for ext in c.exts:
        keys_ += [keys.calls(c.org_id, ext), keys.idle(c.org_id, ext), keys.offer(c.org_id, ext)]
    # `now` as a string: the records keep Python's exact text of the time, as they always did.
    return keys_, {"dlg": {
        "P": PREFIX, "org": c.org_id, "mode": "" if calls is None else "start" if c.started else "end",
        "call": c.call_key, "now": json.dumps(c.now), "ttl": CALL_RECORD_TTL, "ended_ttl": CALL_ENDED_MEMORY,
        "wake_ttl": WAKE_MEMORY, "ended": ended_call, "exts": c.exts,
        "members": [f"{c.org_id}|{ext}|{c.call_key}" if c.node else "" for ext in c.exts]}}


PRESENCE_READS = 5  # replies per agent queued by queue_presence, after one for the nodes


def presence_replies(exts: list[str]) -> int:
    return 1 + PRESENCE_READS * len(exts)


def queue_presence(p: Pipeline, org_id: str, exts: list[str]) -> None:
    """Queues the reads presence_from derives the agents' presence from (presence_replies of them)."""
    p.hgetall(keys.NODES)
    for ext in exts:
        p.hget(keys.agent(org_id, ext), "dnd")
        p.hgetall(keys.status(org_id, ext))
        p.hvals(keys.bindings(org_id, ext))
        p.hgetall(keys.calls(org_id, ext))
        p.hgetall(keys.session(org_id, ext))


def presence_from(exts: list[str], rows: list) -> list[Presence]:
    now = time.time()
    nodes, rows = rows[0], rows[1:]
    out = []
    for i, ext in enumerate(exts):
        dnd, status, bindings, calls, session = rows[PRESENCE_READS * i : PRESENCE_READS * (i + 1)]
        held = bindings_from(bindings)
        # A refresh does not write online_until: a later expiry is the bindings' until the sweep.
        online_until = max([float(session.get("online_until", 0) or 0), *(b.expires_at for b in held)])
        # A binding on a node whose heartbeat lapsed (the node died) does not make the agent online.
        out.append(derive(
            ext, status_from(status), dnd == "true", reachable(held, nodes, now),
            online_until, {c: float(t) for c, t in calls.items()}, session_from(session), now,
        ))
    return out


def status_from(data: dict[str, str]) -> AgentStatus:
    return decode(AgentStatus, data) or AgentStatus()


def session_from(data: dict[str, str]) -> LoginSession | None:
    return decode(LoginSession, {k: v for k, v in data.items() if k != "online_until"})


def bindings_from(raw: list[str]) -> list[Binding]:
    return [Binding(**json.loads(v)) for v in raw]


@metrics.timed_state
class AgentStates(Store):
    def __init__(self, client: redis.Redis, directory: Directory, settle: Callable[[], None] = lambda: None) -> None:
        super().__init__(client)
        self.directory = directory
        self._settle = settle  # waits for this node's dialog events on their way (DialogEvents.settle)

    # -- status (pause / available) ----------------------------------------------
    def set_status(self, org_id: str, ext: str, status: AgentStatus) -> None:
        def body(p: Pipeline) -> None:
            if not p.exists(keys.agent(org_id, ext)):
                raise Missing(f"no such agent: {ext}")
            p.multi()
            p.delete(keys.status(org_id, ext))
            p.hset(keys.status(org_id, ext), mapping=encode(status))
            queue_agent_changed(p, org_id, ext)

        self._optimistic([keys.agent(org_id, ext)], body)

    def get_status(self, org_id: str, ext: str) -> AgentStatus:
        return status_from(self.r.hgetall(keys.status(org_id, ext)))

    # -- login sessions --------------------------------------------------------------
    def get_session(self, org_id: str, ext: str) -> LoginSession | None:
        return session_from(self.r.hgetall(keys.session(org_id, ext)))

    def set_session_auto_answer(self, org_id: str, ext: str, on: bool) -> bool:
        """False when the agent has no login session to set it in."""
        return bool(self.r.eval(SET_IN_SESSION, 1, keys.session(org_id, ext), "auto_answer", json.dumps(on)))

    # -- calls in progress (dialog tracking) -----------------------------------------
    def forget_node_calls(self, node: str) -> int:
        """A restarted node lost its dialogs (no end event will come): drop their call records,
        or their agents would stay in-call. Returns how many were dropped."""
        return self.drop_call_records(node, [NodeCall.parse(m) for m in self.node_call_records(node)], time.time())

    def node_call_records(self, node: str) -> list[str]:
        """Members "org|ext|call key" of the call records the dialogs of `node` made."""
        self._settle()
        return sorted(self.r.smembers(keys.node_calls(node)))

    def drop_call_records(self, node: str, records: list[NodeCall], now: float) -> int:
        """Ends call records whose dialog is gone (policy.reconcile): the agents are free
        again, idle since `now`. Returns how many were dropped."""
        with self.r.pipeline(transaction=True) as p:
            for record in records:
                p.srem(keys.node_calls(node), record.member)
                if record.org:
                    p.hdel(keys.calls(record.org, record.ext), record.call_id)
                    p.set(keys.idle(record.org, record.ext), json.dumps(now), ex=CALL_RECORD_TTL)
                    queue_agent_changed(p, record.org, record.ext)
            execute(p)
        return len(records)

    # -- presence ------------------------------------------------------------------------
    def own_state(self, org_id: str, ext: str) -> tuple[Presence, AgentStatus, LoginSession | None]:
        """What the agent API shows an agent about itself, in one round trip."""
        self._settle()
        with self.r.pipeline(transaction=False) as p:
            queue_presence(p, org_id, [ext])
            rows = p.execute()
        _nodes, _dnd, status, _bindings, _calls, session = rows
        return presence_from([ext], rows)[0], status_from(status), session_from(session)

    def presence(self, org_id: str, exts: list[str] | None = None) -> list[Presence]:
        """Every agent of the org (or the ones named), in one pipelined round trip."""
        self._settle()
        if exts is None:
            exts = sorted(self.r.smembers(keys.agents(org_id)))
        with self.r.pipeline(transaction=False) as p:
            queue_presence(p, org_id, exts)
            rows = p.execute()
        return presence_from(exts, rows)

    def agent_state_counts(self) -> dict[tuple[str, str], int]:
        """(org, state) -> agents, for the edge_agents gauge: the presence states (available,
        paused, in-call, offline), one pipelined round trip per org. Scrape time only."""
        counts: dict[tuple[str, str], int] = {}
        for org in self.directory.list_orgs():
            for agent in self.presence(org.id):
                counts[(org.id, agent.state)] = counts.get((org.id, agent.state), 0) + 1
        return counts

    def sessions(self, org_id: str) -> list[dict[str, object]]:
        exts = sorted(self.r.smembers(keys.agents(org_id)))
        with self.r.pipeline(transaction=False) as p:
            for ext in exts:
                p.hgetall(keys.session(org_id, ext))
            rows = p.execute()
        out = []
        for ext, row in zip(exts, rows, strict=True):
            session = session_from(row)
            out.append({"ext": ext, "session": None if session is None else session_json(session)})
        return out


def session_json(session: LoginSession) -> dict[str, object]:
    return {"started_at": session.started_at, "block_calls_during_pause": session.block_calls_during_pause,
            "company": session.company, "call_id": session.call_id, "auto_answer": session.auto_answer}
