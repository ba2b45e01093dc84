"""Everything the policy needs for an agent's new call in one Redis command (one script call),
including the version counters of the per-worker caches (state/lookups.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from kemi_app import metrics
from kemi_app.extensions import is_agent_ext, is_service_ext
from kemi_app.policy.cluster import reachable
from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.registration import Binding, live
from kemi_app.policy.session import LoginSession
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.agentstate import bindings_from, session_from, status_from
from kemi_app.state.base import Store
from kemi_app.state.codec import decode
from kemi_app.state.scripts import Script

NODES_CACHE_SECONDS = 1.0  # heartbeats carry their own expiry; only a join or a leave shows late
AGENTS_CACHED = 20_000  # a worker's copies of agents, all dropped beyond this (a refill costs one read each)
CACHED = "="  # CALL_VIEW: the worker's copy of this agent is current
NONCE_MEMORY = 310  # auth's nonce_expire (300 s) and drift: a nonce is remembered while valid
# claim_auth(failures key, unknown names' failures key, nonce use key ('': none named, the
# digest check fails anyway), agent, memory): {the agent's failures from the source, those of
# names that are no agent, 1 if this is the nonce use's first, else 0}. A use is recorded for
# an existing agent only, so no key is made per made-up name: `agent` is the agent hash's key
# (checked here), or whether the caller already knows the agent exists, or a function that
# tells it from the values of the further keys (...), which are read in the same MGET and are
# a second result.
CLAIM_AUTH_LUA = """
local function claim_auth(failures, unknown, nonce, agent, memory, ...)
  local counts = redis.call('mget', failures, unknown, ...)
  local values = {unpack(counts, 3)}
  if type(agent) == 'function' then agent = agent(values) end  -- told once the values are read
  local exists = agent == true or (agent ~= false and redis.call('exists', agent) == 1)
  local fresh = 1
  if nonce ~= '' and exists and not redis.call('set', nonce, '1', 'NX', 'EX', memory) then fresh = 0 end
  return {counts[1], counts[2], fresh}, values
end
"""
@dataclass(frozen=True)
class AgentAuth:
    ha1: str | None
    failures: int
    fresh: bool = True  # False: these exact credentials were used before (a replay)


def auth_keys(org_id: str, ext: str, source_ip: str, nonce_use: str) -> list[str]:
    """The keys claim_auth reads: failures from this source, against the agent and against
    names that are no agent, then the nonce use (none when no nonce was named)."""
    out = [keys.authfail(org_id, ext, source_ip), keys.authfail_unknown(org_id, source_ip)]
    return [*out, keys.nonce_use(nonce_use)] if nonce_use else out


def auth_from(ha1: str | None, claimed: list) -> AgentAuth:
    """`claimed`: claim_auth's reply."""
    agent_failures, unknown_failures, fresh = claimed
    failures = agent_failures if ha1 else unknown_failures
    return AgentAuth(ha1=ha1, failures=int(failures or 0), fresh=fresh == 1)


@dataclass(frozen=True)
class CallView:
    auth: AgentAuth
    caller: Agent | None
    status: AgentStatus
    session: LoginSession | None
    org_version: str
    gateways_version: str
    callee: Agent | None = None  # when an extension was dialled
    callee_read: bool = True  # False: not read, the caller is refused for its pause (call_view's `refusable`)
    callee_bindings: list[Binding] = field(default_factory=list)
    service: Service | None = None  # when a service extension was dialled


# The whole call view in one script call. An agent's hash is read only when the worker's copy
# of it is not current: the copy names the agent's version it was read at, which comes with the
# failure counts' MGET, and claim_auth is told whether the caller exists once that is known.
# KEYS: caller's agent hash, failures, unknown names' failures, status, session, org version,
# gateways version, the caller's version, then the dialled agent's hash, bindings and version
# (and the node list when the worker's copy is out of date) or the dialled service, then the
# nonce use (absent when none was named). ARGV: nonce memory, 'agent' / 'service' / '' (what
# was dialled), '1' when a nonce use is named, '1' when the node list is read, '1' when the
# pause rule applies, the version of the worker's copy of the caller ('' none) and that copy's
# company, the version of its copy of the dialled agent ('' none), then the companies that
# block calls during pause (for a caller with no session).
# Returns {agent, claim, status, session, {versions}, dialled...} (hashes as flat lists, an
# agent's as CACHED when the worker's copy is current); no dialled agent when the caller's
# pause and session (or company) block calls (policy/pause.py pause_refusal: the call is
# refused, or it dials an emergency number, which no agent answers).
CALL_VIEW = CLAIM_AUTH_LUA + """
local function field(flat, name)
  for i = 1, #flat, 2 do if flat[i] == name then return flat[i + 1] end end
end
-- An agent with no version (last written before versions existed) gets one at its first read,
-- so copies of it can be checked from then on; none for an agent that does not exist.
local function versioned(key, version, hash)
  if version or #hash == 0 then return version end
  local now = redis.call('time')
  version = 'since-' .. now[1] .. '.' .. now[2]
  redis.call('set', key, version)
  return version
end
local agent
local function caller(versions)
  if ARGV[6] ~= '' and ARGV[6] == versions[3] then agent = '=' return true end
  agent = redis.call('hgetall', KEYS[1])
  versions[3] = versioned(KEYS[8], versions[3], agent)
  return #agent > 0
end
local nonce = ARGV[3] == '1' and KEYS[#KEYS] or ''
local versions_read = ARGV[2] == 'agent' and {KEYS[6], KEYS[7], KEYS[8], KEYS[11]} or {KEYS[6], KEYS[7], KEYS[8]}
local claim, versions = claim_auth(KEYS[2], KEYS[3], nonce, caller, ARGV[1], unpack(versions_read))
local status, session = redis.call('hgetall', KEYS[4]), redis.call('hgetall', KEYS[5])
local out = {agent, claim, status, session, versions}
local blocks = field(session, 'block_calls_during_pause')
if #session == 0 then
  local company = agent == '=' and ARGV[7] or field(agent, 'company')
  for i = 9, #ARGV do if ARGV[i] == company then blocks = 'true' end end
end
local refused = ARGV[5] == '1' and field(status, 'paused') == 'true' and field(status, 'blocks') ~= 'false'
  and blocks == 'true'
if ARGV[2] == 'agent' and refused then
  return out
elseif ARGV[2] == 'agent' then
  if ARGV[8] ~= '' and ARGV[8] == versions[4] then
    out[6] = '='
  else
    out[6] = redis.call('hgetall', KEYS[9])
    versions[4] = versioned(KEYS[11], versions[4], out[6])
  end
  out[7] = redis.call('hvals', KEYS[10])
  if ARGV[4] == '1' then out[8] = redis.call('hgetall', KEYS[12]) end
elseif ARGV[2] == 'service' then
  out[6] = redis.call('hgetall', KEYS[9])
end
return out
"""
_call_view = Script(CALL_VIEW)


def _hash(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


@metrics.timed_state
class CallViews(Store):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._nodes: tuple[float, dict[str, str]] = (0.0, {})  # (valid until, edge:nodes)
        # (org, ext) -> (the agent's version it was read at, the agent): existing agents only
        self._agents: dict[tuple[str, str], tuple[str, Agent]] = {}

    def call_view(self, org_id: str, caller: str, source_ip: str, dialled: str, nonce_use: str,
                  refusable: bool = False, blocking_companies: Sequence[str] = ()) -> CallView:
        """Auth data, caller state and session, and the dialled agent or service: one round trip.
        `refusable`: a call the pause rule applies to (an INVITE): the dialled agent is left
        unread when the caller's pause refuses it (CallView.callee_read); `blocking_companies`:
        the org's companies that block calls during pause, for a caller with no session."""
        dialled_kind = "agent" if is_agent_ext(dialled) else "service" if is_service_ext(dialled) else ""
        failures, unknown, *nonce = auth_keys(org_id, caller, source_ip, nonce_use)
        keys_ = [keys.agent(org_id, caller), failures, unknown, keys.status(org_id, caller),
                 keys.session(org_id, caller), keys.org_version(org_id), keys.GATEWAYS_VERSION,
                 keys.agent_version(org_id, caller)]
        if dialled_kind == "agent":
            keys_ += [keys.agent(org_id, dialled), keys.bindings(org_id, dialled), keys.agent_version(org_id, dialled)]
        elif dialled_kind == "service":
            keys_.append(keys.service(org_id, dialled))
        # One command, no pipeline: the node list is read inside the script when it is due.
        read_nodes = dialled_kind == "agent" and self._nodes[0] <= time.monotonic()
        if read_nodes:
            keys_.append(keys.NODES)
        caller_copy = self._agents.get((org_id, caller))
        callee_copy = self._agents.get((org_id, dialled)) if dialled_kind == "agent" else None
        agent, claimed, status, session, versions, *target = _call_view.call(
            self.r, [*keys_, *nonce],
            [NONCE_MEMORY, dialled_kind, "1" if nonce else "0", "1" if read_nodes else "0", "1" if refusable else "0",
             caller_copy[0] if caller_copy else "", caller_copy[1].company if caller_copy else "",
             callee_copy[0] if callee_copy else "", *blocking_companies])
        org_version, gw_version, caller_version, *callee_version = versions  # the callee's: when one was dialled
        caller_agent = self._agent(org_id, caller, agent, caller_version)
        callee, callee_bindings, service = None, [], None
        callee_read = dialled_kind != "agent" or bool(target)
        if dialled_kind == "agent" and callee_read:
            callee = self._agent(org_id, dialled, target[0], callee_version[0])
            nodes = [_hash(target[2])] if read_nodes else []
            callee_bindings = self._reachable(bindings_from(target[1]), nodes)
        elif dialled_kind == "service":
            service = decode(Service, _hash(target[0]))
        return CallView(
            auth=auth_from(caller_agent.ha1 if caller_agent else None, claimed),
            caller=caller_agent,
            status=status_from(_hash(status)),
            session=session_from(_hash(session)),
            org_version=org_version or "0",
            gateways_version=gw_version or "0",
            callee=callee,
            callee_bindings=callee_bindings,
            callee_read=callee_read,
            service=service,
        )

    def _agent(self, org_id: str, ext: str, read: list[str] | str, version: str | None) -> Agent | None:
        """The agent the script gave (its hash, or CACHED: the worker's copy is current), kept
        as the copy for its `version` (None: the agent does not exist)."""
        if isinstance(read, str):  # CACHED
            return self._agents[(org_id, ext)][1]
        agent = decode(Agent, _hash(read), ext=ext)
        if agent is None or version is None:
            self._agents.pop((org_id, ext), None)
        else:
            if len(self._agents) >= AGENTS_CACHED:
                self._agents.clear()
            self._agents[(org_id, ext)] = (version, agent)
        return agent

    def _reachable(self, bindings: list[Binding], read: list[dict[str, str]]) -> list[Binding]:
        """The live bindings on live nodes, from the node list just `read` or the cached one. A
        binding the cached list rules out is checked against a fresh read: its node may have
        joined in the meantime."""
        now = time.time()
        if read:
            self._nodes = (time.monotonic() + NODES_CACHE_SECONDS, read[0])
        usable = live(bindings, now)
        out = reachable(usable, self._nodes[1], now)
        if len(out) == len(usable) or read:
            return out
        self._nodes = (time.monotonic() + NODES_CACHE_SECONDS, self.r.hgetall(keys.NODES))
        return reachable(usable, self._nodes[1], now)
