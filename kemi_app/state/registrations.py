"""Registrations: digest credentials and failures, an agent's bindings and its session."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.cluster import reachable
from kemi_app.policy.registration import Binding, RegisterOutcome, live
from kemi_app.policy.session import LoginSession, SessionUpdate
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.errors import Conflict
from kemi_app.state import keys
from kemi_app.state.agentstate import bindings_from, session_from
from kemi_app.state.base import MAX_RETRIES, Store
from kemi_app.state.callview import CLAIM_AUTH_LUA, AgentAuth, auth_from, auth_keys
from kemi_app.state.codec import decode, encode
from kemi_app.state.queues import AGENT_CHANGED_LUA, PREFIX, WAKE_MEMORY, queue_agent_changed
from kemi_app.state.scripts import Script

AUTH_FAILURE_WINDOW = 300
# What a REGISTER needs, in one script call: the agent's HA1 and company, its auth failures
# (claim_auth, no nonce: SIP nonces are bound to the node that issued them, see sip/auth), its
# bindings, and when no binding is live at `now` what only a login's decision uses: its session
# and the org's version (for the cached company settings; both false when not read). KEYS: agent,
# failures, unknown names' failures, org version, bindings, session. ARGV: now.
REGISTER_VIEW = CLAIM_AUTH_LUA + """
local agent = redis.call('hmget', KEYS[1], 'ha1', 'company')
local auth = claim_auth(KEYS[2], KEYS[3], '', agent[1] ~= false, 0)
local bindings = redis.call('hgetall', KEYS[5])
local now, live = tonumber(ARGV[1]), false
for i = 2, #bindings, 2 do
  if cjson.decode(bindings[i]).expires_at > now then live = true break end
end
local session, version = false, false
if not live then session, version = redis.call('hgetall', KEYS[6]), redis.call('get', KEYS[4]) or '0' end
return {agent[1], agent[2], auth, version, bindings, session}
"""
_register_view = Script(REGISTER_VIEW)

# A REGISTER's writes, if the HA1 it was authenticated with is still the agent's ({'stale'}
# otherwise: a password changed meanwhile must not let the old one refresh from the cache), and
# the bindings (and the session, when the decision read it) are still what the decision was
# made on (compare-and-set; 0: changed, decide again). Only what changed
# is written: a refresh sets its binding, its place in the expiry index and online_until. The
# bindings hash has no TTL (persist: one written before had): the sweep removes it.
# KEYS: bindings, session, the registrations index and its reauth set, the agent. ARGV:
# prefix, org, ext, wake list TTL, the HA1's SHA1, then lists (a count, then its items): the
# expected bindings (contact, JSON pairs), the expected session (pairs; count -1: not
# compared), bindings to set (pairs) and to delete (contacts); then the latest binding's
# expiry (0: none left), '1' when the session is replaced (a login), session fields to set (a
# list); '1' when the agent's availability may have changed (queues: agent_changed).
_COMMIT_HEAD = AGENT_CHANGED_LUA + """
local n = 4
local function arg() n = n + 1 return ARGV[n] end
local function list()
  local items, count = {}, tonumber(arg())
  for i = 1, count do items[i] = arg() end
  return items, count
end
local function same(key, want)
  local have = redis.call('hgetall', key)
  if #have ~= #want then return false end
  local wanted = {}
  for i = 1, #want, 2 do wanted[want[i]] = want[i + 1] end
  for i = 1, #have, 2 do
    if wanted[have[i]] ~= have[i + 1] then return false end
  end
  return true
end
local agent = redis.call('hmget', KEYS[5], 'ha1', 'company')
if not agent[1] or redis.sha1hex(agent[1]) ~= arg() then return {'stale'} end
"""
_COMMIT_BODY = """
local bindings = list()
local session, compared = list()
if not same(KEYS[1], bindings) or (compared >= 0 and not same(KEYS[2], session)) then return changed() end
local put, gone, latest = list(), list(), arg()
local member = ARGV[2] .. ':' .. ARGV[3]
redis.call('zrem', KEYS[4], member)  -- authenticated against the agent's HA1 as it is now
if latest == '0' then
  if #bindings > 0 then redis.call('del', KEYS[1]) end
  redis.call('zrem', KEYS[3], member)
else
  if #gone > 0 then redis.call('hdel', KEYS[1], unpack(gone)) end
  if #put > 0 then redis.call('hset', KEYS[1], unpack(put)) end
  redis.call('persist', KEYS[1])
  redis.call('zadd', KEYS[3], latest, member)
end
local replace, fields = arg(), list()
if replace == '1' then redis.call('del', KEYS[2]) end
if #fields > 0 then redis.call('hset', KEYS[2], unpack(fields)) end
if arg() == '1' then agent_changed(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) end
return 1
"""
COMMIT_REGISTER = _COMMIT_HEAD + "local function changed() return 0 end" + _COMMIT_BODY
_commit_register = Script(COMMIT_REGISTER)

# A refresh in one round trip, for a worker that verified the digest against its cached HA1 and
# decided on its cached bindings: commits as COMMIT_REGISTER (which checks that HA1). The
# lockout is not read: a worker takes this path only when no failure was recorded against the
# agent lately (sip/auth.recently_failed). Bindings no longer as cached: 'changed' with what the
# regular decision needs (the agent's company, the org's version, bindings, session). KEYS:
# COMMIT_REGISTER's, then the org version. ARGV: COMMIT_REGISTER's.
REFRESH_REGISTER = _COMMIT_HEAD + """
local function changed()
  return {'changed', agent[2], redis.call('get', KEYS[6]) or '0', redis.call('hgetall', KEYS[1]),
          redis.call('hgetall', KEYS[2])}
end
""" + _COMMIT_BODY
_refresh_register = Script(REFRESH_REGISTER)


# Undoes a quick refresh that found its binding gone or its agent's credentials changed: the
# binding as it was before (its JSON; '': it was not there), if it is still the one written.
# KEYS: bindings. ARGV: contact, JSON written, JSON before.
_undo_refresh = Script("""
if redis.call('hget', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('hdel', KEYS[1], ARGV[1]) else redis.call('hset', KEYS[1], ARGV[1], ARGV[3]) end
return 1
""")

# The sweep: each agent of the index (and its reauth set) whose latest binding expired by `now`
# loses its bindings, goes offline at that expiry and out of its queues' free sets. A binding
# refreshed since (its index entry was not moved on, e.g. a write lost halfway) puts the agent
# back at its latest expiry. KEYS: the index, its reauth set. ARGV: prefix, now, at most how
# many agents per set, wake list TTL. Returns how many agents expired.
_SWEEP = AGENT_CHANGED_LUA + """
local P, now, expired = ARGV[1], tonumber(ARGV[2]), 0
for _, index in ipairs(KEYS) do
  for _, member in ipairs(redis.call('zrangebyscore', index, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
    local org, ext = string.match(member, '^(.*):([^:]*)$')
    local key = P .. 'bindings:' .. org .. ':' .. ext
    local latest = nil
    for _, b in ipairs(redis.call('hvals', key)) do
      local at = cjson.decode(b).expires_at
      if latest == nil or at > latest then latest = at end
    end
    if latest ~= nil and latest > now then
      redis.call('zadd', index, latest, member)
    else
      redis.call('zrem', index, member)
      if latest ~= nil then
        redis.call('del', key)
        redis.call('hset', P .. 'session:' .. org .. ':' .. ext, 'online_until', string.format('%.17g', latest))
        agent_changed(P, org, ext, ARGV[4])
        expired = expired + 1
      end
    end
  end
end
return expired
"""
_sweep = Script(_SWEEP)
SWEEP_BATCH = 500  # agents per set and sweep: a backlog (Redis was down) drains over a few seconds


def binding_json(b: Binding) -> str:
    """A binding as stored (what bindings_from reads): its fields, without asdict's deep copy."""
    return json.dumps(vars(b))


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _flat(mapping: dict[str, str]) -> list[str]:
    return [x for item in mapping.items() for x in item]


def _listed(items: list[str]) -> list[str]:
    return [str(len(items)), *items]


@dataclass(frozen=True)
class Registration:
    """An agent's bindings and session record as read (raw: the compare-and-set checks them).
    `session_raw` None: not read (a live binding: no decision needs it)."""

    bindings_raw: dict[str, str] = field(default_factory=dict)  # contact -> JSON binding
    session_raw: dict[str, str] | None = field(default_factory=dict)

    @cached_property
    def bindings(self) -> list[Binding]:
        return bindings_from(list(self.bindings_raw.values()))

    @property
    def session(self) -> LoginSession | None:
        return session_from(self.session_raw or {})


@dataclass(frozen=True)
class RegisterView:
    """What a REGISTER needs, read in one round trip: credentials, the agent's company and
    the org's version (for the cached company settings; None: not read, a binding was live),
    its registration."""

    auth: AgentAuth
    company_id: str
    org_version: str | None
    registration: Registration


@dataclass(frozen=True)
class Refreshed:
    """REFRESH_REGISTER's verdict: 'ok' (written), 'stale' (the cached HA1), or 'changed' with
    what the regular decision needs (nothing written)."""

    verdict: str
    company_id: str = ""
    org_version: str = "0"
    registration: Registration = field(default_factory=Registration)


@dataclass(frozen=True)
class RegisterWrite:
    """A REGISTER's decision: the registrar's outcome (written only when ok) and the session
    update."""

    outcome: RegisterOutcome
    session: SessionUpdate | None = None


def commit_call(org_id: str, ext: str, ha1: str, current: Registration, write: RegisterWrite
                ) -> tuple[list[str], list[str]]:
    """COMMIT_REGISTER's keys and arguments: `write` applied to `current`, by a REGISTER
    authenticated against `ha1`."""
    after = write.outcome.bindings
    before = {b.contact: b for b in current.bindings}
    put: list[str] = []
    for b in after:
        if before.get(b.contact) != b:
            put += [b.contact, binding_json(b)]
    kept = {b.contact for b in after}
    gone = [contact for contact in current.bindings_raw if contact not in kept]
    latest = repr(max(b.expires_at for b in after)) if after else "0"
    started = write.session.started if write.session is not None else None
    fields: list[str] = []
    if started is not None:
        fields += _flat(encode(started))
    if write.session is not None:
        fields += ["online_until", json.dumps(write.session.online_until)]
    # Queues read only whether the bindings hash exists and when the session started.
    changed = bool(current.bindings_raw) != bool(after) or started is not None
    expected_session = None if current.session_raw is None else _flat(current.session_raw)
    return _commit(org_id, ext, ha1, (_flat(current.bindings_raw), expected_session), (put, gone, latest),
                   (started is not None, fields), changed)


def _commit(org_id: str, ext: str, ha1: str, expected: tuple[list[str], list[str] | None],
            bindings: tuple[list[str], list[str], str], session: tuple[bool, list[str]],
            changed: bool) -> tuple[list[str], list[str]]:
    """COMMIT_REGISTER's keys and arguments: the expected bindings and session (flat pairs; None:
    not compared), the bindings to set (pairs) and delete and the latest one's expiry, whether the session is
    replaced and its fields to set, whether queues must look."""
    (expected_bindings, expected_session), (put, gone, latest), (replaced, fields) = expected, bindings, session
    args = [PREFIX, org_id, ext, str(WAKE_MEMORY), hashlib.sha1(ha1.encode()).hexdigest(),
            *_listed(expected_bindings), *(["-1"] if expected_session is None else _listed(expected_session)),
            *_listed(put), *_listed(gone), latest, "1" if replaced else "0", *_listed(fields),
            "1" if changed else "0"]
    return [keys.bindings(org_id, ext), keys.session(org_id, ext), keys.REGISTRATIONS,
            keys.REGISTRATIONS_REAUTH, keys.agent(org_id, ext)], args


@metrics.timed_state
class Registrations(Store):
    def register_view(self, org_id: str, ext: str, source_ip: str, now: float | None = None) -> RegisterView:
        """The registration's session and the org's version are read only when no binding is
        live at `now` (default: the current time)."""
        failures, unknown = auth_keys(org_id, ext, source_ip, "")
        keys_ = [keys.agent(org_id, ext), failures, unknown, keys.org_version(org_id), keys.bindings(org_id, ext),
                 keys.session(org_id, ext)]
        ha1, company, claimed, version, bindings, session = _register_view.call(
            self.r, keys_, [repr(time.time() if now is None else now)])
        registration = Registration(_pairs(bindings), None if session is None else _pairs(session))
        return RegisterView(auth_from(ha1, claimed), company or "", version, registration)

    def refresh(self, org_id: str, ext: str, call: tuple[list[str], list[str]]) -> Refreshed:
        """A commit `call` (commit_call) made on the worker's caches, in one script call, if the
        HA1 it names is still the agent's and the bindings still the cached ones."""
        commit_keys, commit_args = call
        reply = _refresh_register.call(self.r, [*commit_keys, keys.org_version(org_id)], commit_args)
        if reply == 1:
            self._replicated()
            return Refreshed("ok")
        verdict, *rest = reply
        if verdict != "changed":
            return Refreshed(verdict)
        company, version, bindings, session = rest
        return Refreshed(verdict, company or "", version, Registration(_pairs(bindings), _pairs(session)))

    def refresh_binding(self, org_id: str, ext: str, binding: tuple[str, str, str], expires_at: float) -> bool:
        """A refresh of one of the agent's bindings decided and authenticated on the worker's
        caches: `binding` (contact, JSON, JSON before) written, the agent's index entry moved on
        to its new expiry (`expires_at`: always a change; another binding expiring later is
        found by the sweep, which puts the agent back at it), in one round trip with no read:
        two commands. True once
        written. False (undone) when the binding was gone (the field is new: removed by another
        phone's REGISTER, an unregister, the agent's deletion) or the agent is no longer in the
        index (its credentials changed: moved to the reauth set; or its bindings expired): the
        regular path then reads and decides."""
        contact, written, before = binding
        with self.r.pipeline(transaction=False) as p:
            p.hset(keys.bindings(org_id, ext), contact, written)
            p.zadd(keys.REGISTRATIONS, {keys.registration(org_id, ext): expires_at}, xx=True, ch=True)
            added, moved = p.execute()
        if added == 0 and moved == 1:
            self._replicated()
            return True
        _undo_refresh.call(self.r, [keys.bindings(org_id, ext)], [contact, written, "" if added else before])
        return False

    def sweep(self, now: float | None = None) -> int:
        """Expires the registrations whose latest binding's expiry passed (every node, every
        second: each agent once, atomically). Returns how many agents expired."""
        return int(_sweep.call(self.r, [keys.REGISTRATIONS, keys.REGISTRATIONS_REAUTH],
                               [PREFIX, repr(time.time() if now is None else now), SWEEP_BATCH, WAKE_MEMORY]))

    def registration(self, org_id: str, ext: str) -> Registration:
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.bindings(org_id, ext))
            p.hgetall(keys.session(org_id, ext))
            bindings, session = p.execute()
        return Registration(bindings, session)

    def register(
        self, org_id: str, ext: str, ha1: str, current: Registration,
        decide: Callable[[Registration], RegisterWrite],
    ) -> RegisterWrite | None:
        """Writes what `decide` makes of the agent's registration in one script call, if the
        registration is still `current`; else reads it again and decides again (concurrent
        REGISTERs of one agent). A refusal writes nothing. None: nothing written, the agent's
        HA1 is no longer `ha1`, the one the REGISTER was authenticated with."""
        for _ in range(MAX_RETRIES):
            write = decide(current)
            if not write.outcome.ok:
                return write
            done = _commit_register.call(self.r, *commit_call(org_id, ext, ha1, current, write))
            if done == 1:
                self._replicated()  # the 200 OK goes out once a failover cannot lose the binding
                return write
            if done != 0:
                return None
            current = self.registration(org_id, ext)
        raise Conflict("too many concurrent changes, try again")

    def record_auth_failure(self, org_id: str, ext: str, source_ip: str, per_agent: bool) -> int:
        """Counts a failure from a source against the agent, or (policy.auth_policy) against the
        source's one counter for names that are no agent. An agent's goes on the cluster's list
        of recent failures too (failed_since); made-up names make no entry there."""
        key = keys.authfail(org_id, ext, source_ip) if per_agent else keys.authfail_unknown(org_id, source_ip)
        now = time.time()
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, AUTH_FAILURE_WINDOW)
            if per_agent:
                p.zadd(keys.AUTHFAIL_RECENT, {f"{org_id}:{ext}": now})
                p.zremrangebyscore(keys.AUTHFAIL_RECENT, "-inf", now - AUTH_FAILURE_WINDOW)
            count, *_ = p.execute()
        return int(count)

    def failed_since(self, since: float) -> list[str]:
        """The names ('org:ext') with a failure recorded on any node after `since`."""
        return self.r.zrangebyscore(keys.AUTHFAIL_RECENT, f"({since!r}", "+inf")

    def agent_bindings(self, org_id: str, ext: str) -> tuple[Agent | None, list[Binding]]:
        """(the agent, its live bindings on live nodes) in one round trip."""
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.agent(org_id, ext))
            p.hvals(keys.bindings(org_id, ext))
            p.hgetall(keys.NODES)
            agent, raw, nodes = p.execute()
        return decode(Agent, agent, ext=ext), reachable(bindings_from(raw), nodes, time.time())

    def bindings(self, org_id: str, ext: str) -> list[Binding]:
        return live(bindings_from(self.r.hvals(keys.bindings(org_id, ext))), time.time())

    def update_bindings(
        self, org_id: str, ext: str, change: Callable[[list[Binding]], RegisterOutcome]
    ) -> RegisterOutcome:
        """Read-change-write of one agent's bindings, atomic against concurrent REGISTERs."""
        key = keys.bindings(org_id, ext)

        def body(p: Pipeline) -> RegisterOutcome:
            current = [Binding(**json.loads(v)) for v in p.hvals(key)]
            member = keys.registration(org_id, ext)
            index = keys.REGISTRATIONS_REAUTH if p.zscore(keys.REGISTRATIONS_REAUTH, member) else keys.REGISTRATIONS
            outcome = change(current)
            if not outcome.ok:
                return outcome  # nothing written
            p.multi()
            p.delete(key)
            now = time.time()
            if outcome.bindings:
                p.hset(key, mapping={b.contact: binding_json(b) for b in outcome.bindings})
                p.zadd(index, {member: max(b.expires_at for b in outcome.bindings)})
            else:
                p.zrem(index, member)
                if live(current, now):
                    # The last binding went (unregister, vanished connection): offline from now.
                    p.hset(keys.session(org_id, ext), "online_until", json.dumps(now))
            queue_agent_changed(p, org_id, ext)
            return outcome

        outcome = self._optimistic([key], body)
        if outcome.ok:
            self._replicated()
        return outcome
