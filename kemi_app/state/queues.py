"""Queues: a compact per-queue state, so an offer is one script call whatever the queue's size.

Per queue: the set of members (`qmembers`), a sorted set of the members that may be offered a
call, scored by when they became free (`qfree`, longest idle first), and a sorted set of the
calls waiting, scored by arrival (`qwait`). Every change of an agent's state (register,
unregister, pause, DND, call start and end, reconcile) runs AGENT_CHANGED in the same round
trip as the change itself: it puts the agent in or out of its queues' free sets and, when it
became free while calls wait, hands it to the longest-waiting call at once (offer lock plus a
wake entry for the node holding that call). The offer lock (`offer`) still makes sure one free
agent is never offered two calls, on any node.
"""

from __future__ import annotations

import json
import time

from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.queue import Waiter
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.base import Store
from kemi_app.state.scripts import Script, execute

PREFIX = keys.k("")  # Lua builds the per-member and per-queue keys of the org from it
WAKE_MEMORY = 60  # a node that is gone leaves its wake list behind this long at most

# Deletes the offer lock only if it still belongs to this attendance.
_release = Script("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0")

# agent_changed(prefix, org, ext, wake list TTL[, idle[, queues]]), a Lua function for every
# script that changes an agent's state (org-local keys are built from the prefix). `idle`: the
# idle time the caller just wrote (the end of a call), `queues`: the agent's queues the caller
# just read; neither is read again.
# Offerable: provisioned, registered (a bindings hash: it expires with its last binding),
# not paused, no DND, no call in progress. Free since: the latest of status change, login
# and last call end. Returns 0 not offerable, 1 offerable, 2 handed to a waiting call.
AGENT_CHANGED_LUA = """
local function agent_changed(P, org, ext, wake_ttl, idle, queues)
  local function key(kind, id) return P .. kind .. ':' .. org .. ':' .. id end
  queues = queues or redis.call('smembers', key('memberof', ext))
  if #queues == 0 then return 0 end
  -- A call start is the most frequent change: the calls in progress are checked first.
  local status = {}
  local free = redis.call('hlen', key('calls', ext)) == 0
    and redis.call('exists', key('bindings', ext)) == 1
  if free then  -- a provisioned agent's hash always holds its ext
    local agent = redis.call('hmget', key('agent', ext), 'ext', 'dnd')
    free = agent[1] ~= false and agent[2] ~= 'true'
  end
  if free then
    status = redis.call('hmget', key('status', ext), 'paused', 'since')
    free = status[1] ~= 'true'
  end
  if not free then
    for _, q in ipairs(queues) do redis.call('zrem', key('qfree', q), ext) end
    return 0
  end
  local since = math.max(tonumber(status[2] or '0') or 0,
    tonumber(redis.call('hget', key('session', ext), 'started_at') or '0') or 0,
    tonumber(idle or redis.call('get', key('idle', ext)) or '0') or 0)
  for _, q in ipairs(queues) do redis.call('zadd', key('qfree', q), since, ext) end
  if redis.call('exists', key('offer', ext)) == 1 then return 1 end
  local now = nil  -- read when a queue has a waiting call: most have none
  local function head(q)  -- the queue's longest-waiting call still alive (a node may be gone)
    while true do
      local h = redis.call('zrange', key('qwait', q), 0, 0, 'WITHSCORES')
      if not h[1] then return nil end
      local raw = redis.call('hget', key('qwaiters', q), h[1])
      now = now or tonumber(redis.call('time')[1])
      if raw and cjson.decode(raw).expires > now then return h[1], tonumber(h[2]), raw end
      redis.call('zrem', key('qwait', q), h[1])
      redis.call('hdel', key('qwaiters', q), h[1])
    end
  end
  local best, best_q, best_at, raw
  for _, q in ipairs(queues) do
    local att, at, w = head(q)
    if att and (best_at == nil or at < best_at) then best, best_q, best_at, raw = att, q, at, w end
  end
  if best == nil then return 1 end
  redis.call('zrem', key('qwait', best_q), best)
  redis.call('hdel', key('qwaiters', best_q), best)
  local w = cjson.decode(raw)
  redis.call('set', key('offer', ext), w.attendance, 'PX', w.lock_ms)
  local wakes = P .. 'wake:' .. w.node
  redis.call('rpush', wakes, cjson.encode({waiter = raw, ext = ext}))
  redis.call('expire', wakes, wake_ttl)
  return 2
end
"""
# ARGV: prefix, org, ext, wake list TTL.
AGENT_CHANGED = AGENT_CHANGED_LUA + "return agent_changed(ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"
_agent_changed = Script(AGENT_CHANGED)

# KEYS: free set, waiting set (attendance ids), waiters (attendance -> Waiter) of the queue,
# the inbound routes' version. ARGV: prefix, org, attendance, lock ms, tried (JSON list),
# preferred member (already locked for this call by AGENT_CHANGED, or ''), waiter to queue
# when nobody is free ('' = do not wait), its arrival time, the routes' version the call's
# route was read at ('' = not checked). A preferred member not taken gets its lock released.
# Returns {ext, auto_answer, bindings...} with the member's offer lock taken, false, or
# 'stale' (touching nothing) when the routes' version moved.
PICK = """
local P, org, att, lock = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if ARGV[9] ~= '' and redis.call('get', KEYS[4]) ~= ARGV[9] then return 'stale' end
local function key(kind, id) return P .. kind .. ':' .. org .. ':' .. id end
local tried = {}
for _, e in ipairs(cjson.decode(ARGV[5])) do tried[e] = true end
local preferred = ARGV[6]
-- Nodes alive (policy.cluster): a binding held by a node whose heartbeat lapsed is not used,
-- nor one expired that the sweep has not removed yet. Read at the first binding checked: a
-- queue with nobody free needs no node list.
local alive, now = nil, nil
local function alive_nodes()
  if alive then return alive end
  now = tonumber(redis.call('time')[1])
  alive = {}
  local flat = redis.call('hgetall', P .. 'nodes')
  for i = 1, #flat, 2 do alive[flat[i]] = (tonumber(flat[i + 1]) or 0) > now end
  return alive
end
local function reachable(ext)
  local out = {}
  for _, b in ipairs(redis.call('hvals', key('bindings', ext))) do
    local binding = cjson.decode(b)
    if alive_nodes()[binding.node or ''] and binding.expires_at > now then out[#out + 1] = b end
  end
  return out
end
-- The offer lock first: in a big queue the longest-idle members are often being rung by other
-- calls, and one GET skips them without reading their bindings.
local function take(ext)
  if tried[ext] then return nil end
  local holder = redis.call('get', key('offer', ext))
  if holder and holder ~= att then return nil end
  local bindings = reachable(ext)
  if #bindings == 0 then return nil end
  redis.call('set', key('offer', ext), att, 'PX', lock)
  -- The login session's choice (*44 / *45: JSON true, false or null) wins over the provisioned one.
  local auto = redis.call('hget', key('session', ext), 'auto_answer')
  if auto ~= 'true' and auto ~= 'false' then auto = redis.call('hget', key('agent', ext), 'auto_answer') or '' end
  local out = {ext, auto}
  for _, b in ipairs(bindings) do out[#out + 1] = b end
  return out
end
local chosen = nil
if preferred ~= '' and redis.call('get', key('offer', preferred)) == att then chosen = take(preferred) end
local start = 0
while chosen == nil do
  local batch = redis.call('zrange', KEYS[1], start, start + 49)
  if #batch == 0 then break end
  for _, ext in ipairs(batch) do
    chosen = take(ext)
    if chosen then break end
  end
  start = start + 50
end
if preferred ~= '' and (chosen == nil or chosen[1] ~= preferred)
    and redis.call('get', key('offer', preferred)) == att then
  redis.call('del', key('offer', preferred))
end
if chosen then return chosen end
if ARGV[7] ~= '' then
  local w = cjson.decode(ARGV[7])
  redis.call('zadd', KEYS[2], 'NX', ARGV[8], w.attendance)
  redis.call('hset', KEYS[3], w.attendance, ARGV[7])
end
return false
"""
_pick = Script(PICK)
STALE = "stale"
Picked = tuple[str, bool, list[str]]  # member, auto-answer, raw bindings


class StaleRoute(Exception):
    """The call's route (Lookups.cached_route) changed since this worker read it."""


def queue_agent_changed(p: Pipeline, org_id: str, ext: str) -> None:
    """Queues AGENT_CHANGED on `p`, after the writes that changed the agent's state; send `p`
    with scripts.execute (Redis may have lost the script)."""
    _agent_changed.queue(p, [], [PREFIX, org_id, ext, WAKE_MEMORY])


def queue_membership(p: Pipeline, org_id: str, before: Service | None, after: Service | None) -> None:
    """Queues the membership sets of a queue being saved (`after`) or deleted, and the free set
    of its members rebuilt. `before`: the service as it was."""
    old = set(before.members) if before and before.kind == "queue" else set()
    new = set(after.members) if after and after.kind == "queue" else set()
    service = after or before
    if service is None:
        return
    ext = service.ext
    for member in old - new:
        p.srem(keys.member_of(org_id, member), ext)
    p.delete(keys.queue_members(org_id, ext), keys.queue_free(org_id, ext))
    if after is None:
        p.delete(keys.queue_waiting(org_id, ext), keys.queue_waiters(org_id, ext))
    if new:
        p.sadd(keys.queue_members(org_id, ext), *sorted(new))
    for member in sorted(new):
        p.sadd(keys.member_of(org_id, member), ext)
    for member in sorted(old | new):
        queue_agent_changed(p, org_id, member)


@metrics.timed_state
class Queues(Store):
    def pick(self, queue: str, org_id: str, attendance: str, lock_ms: int, tried: list[str],
             preferred: str = "", waiter: Waiter | None = None, waiter_arrived: float = 0.0,
             route_version: str = "") -> Picked | None:
        """One call: the longest idle free member not tried yet, its offer lock taken for
        `attendance` (member, auto-answer, raw bindings). None when nobody is free; then
        `waiter`, if given, joins the queue's waiting calls (keeping its first arrival).
        `route_version`: the version the call's route was read at (keys.INBOUND_VERSION);
        StaleRoute, nothing taken, if it moved since."""
        row = _pick.call(self.r, [keys.queue_free(org_id, queue), keys.queue_waiting(org_id, queue),
                                  keys.queue_waiters(org_id, queue), keys.INBOUND_VERSION],
                         [PREFIX, org_id, attendance, lock_ms, json.dumps(tried), preferred,
                          waiter.encode() if waiter else "", waiter_arrived, route_version])
        if row == STALE:
            raise StaleRoute(queue)
        if preferred and (not row or row[0] != preferred):
            self.agent_changed(org_id, preferred)  # its lock was let go: free for another call
        if not row:
            return None
        ext, auto, *bindings = row
        return ext, auto == "true", bindings

    def release_offer(self, org_id: str, ext: str, attendance: str, offer_again: bool = True) -> None:
        """Drops the offer lock; `offer_again`: the member is free for waiting calls again
        (not when it just answered: its call start follows)."""
        with self.r.pipeline(transaction=False) as p:
            _release.queue(p, [keys.offer(org_id, ext)], [attendance])
            if offer_again:
                queue_agent_changed(p, org_id, ext)
            execute(p)

    def agent_changed(self, org_id: str, ext: str) -> None:
        with self.r.pipeline(transaction=False) as p:
            queue_agent_changed(p, org_id, ext)
            execute(p)

    def leave(self, org_id: str, queue: str, attendance: str) -> bool:
        """The call no longer waits (caller hung up, max wait reached). False: it was not
        waiting (already handed a member: the wake will find the call gone)."""
        with self.r.pipeline(transaction=True) as p:
            p.zrem(keys.queue_waiting(org_id, queue), attendance)
            p.hdel(keys.queue_waiters(org_id, queue), attendance)
            left, _ = p.execute()
        return bool(left)

    def wake(self, node: str, waiter: Waiter, ext: str) -> None:
        """Hands `ext` (its lock already taken for the waiter) to a waiting call of `node`."""
        self.r.rpush(keys.wakes(node), json.dumps({"waiter": waiter.encode(), "ext": ext}))

    def next_wakes(self, node: str, block_seconds: float, limit: int) -> list[tuple[Waiter, str]]:
        """Waiting calls of `node` handed a member, oldest first; waits up to `block_seconds`
        for the first one (the timer process that calls it does nothing else)."""
        first = self.r.blpop([keys.wakes(node)], timeout=block_seconds)
        if not first:
            return []
        with self.r.pipeline(transaction=True) as p:
            p.lrange(keys.wakes(node), 0, limit - 2)
            p.ltrim(keys.wakes(node), limit - 1, -1)
            rest, _ = p.execute()
        out = []
        for raw in [first[1], *rest]:
            entry = json.loads(raw)
            out.append((Waiter.decode(entry["waiter"]), entry["ext"]))
        return out

    def waiting(self, org_id: str, queue: str) -> tuple[int, float]:
        """Calls waiting in the queue, and the longest wait so far in seconds."""
        with self.r.pipeline(transaction=False) as p:
            p.zcard(keys.queue_waiting(org_id, queue))
            p.zrange(keys.queue_waiting(org_id, queue), 0, 0, withscores=True)
            count, head = p.execute()
        return int(count), (max(0.0, time.time() - head[0][1]) if head else 0.0)
