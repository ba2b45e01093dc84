"""Registrations: digest credentials and failures, an agent's bindings, and which agent
registered over which WebSocket connection."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import redis
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
from kemi_app.state.callview import AgentAuth, auth_from, queue_auth
from kemi_app.state.codec import decode, encode
from kemi_app.state.queues import AGENT_CHANGED, PREFIX, WAKE_MEMORY, queue_agent_changed

AUTH_FAILURE_WINDOW = 300
# A REGISTER's writes in one round trip, if the bindings and session are still what the
# decision was made on (a compare-and-set on their whole content; 0: changed, decide again).
# KEYS: bindings, session, WebSocket connection. ARGV: expected {bindings, session} as JSON,
# then the writes as JSON: bindings (contact -> JSON) and their TTL, session fields to
# replace the session with (a new login), online_until, the connection's owner and TTL.
COMMIT_REGISTER = """
local function same(key, want)
  local have = redis.call('hgetall', key)
  local n = 0
  for i = 1, #have, 2 do
    if want[have[i]] ~= have[i + 1] then return false end
    n = n + 1
  end
  for _ in pairs(want) do n = n - 1 end
  return n == 0
end
local function put(key, map)
  local flat = {}
  for k, v in pairs(map) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  if #flat > 0 then redis.call('hset', key, unpack(flat)) end
end
local expected = cjson.decode(ARGV[1])
if not (same(KEYS[1], expected.bindings) and same(KEYS[2], expected.session)) then return 0 end
local w = cjson.decode(ARGV[2])
redis.call('del', KEYS[1])
if next(w.bindings) then
  put(KEYS[1], w.bindings)
  redis.call('expire', KEYS[1], w.ttl)
end
if w.session then redis.call('del', KEYS[2]); put(KEYS[2], w.session) end
if w.online_until then redis.call('hset', KEYS[2], 'online_until', w.online_until) end
if w.conn then redis.call('set', KEYS[3], w.conn, 'EX', w.conn_ttl) end
return 1
"""


@dataclass(frozen=True)
class Registration:
    """An agent's bindings and session record as read (raw: the compare-and-set checks them)."""

    bindings_raw: dict[str, str] = field(default_factory=dict)  # contact -> JSON binding
    session_raw: dict[str, str] = field(default_factory=dict)

    @property
    def bindings(self) -> list[Binding]:
        return bindings_from(list(self.bindings_raw.values()))

    @property
    def session(self) -> LoginSession | None:
        return session_from(self.session_raw)


@dataclass(frozen=True)
class RegisterView:
    """What a REGISTER needs, read in one round trip: credentials, the agent's company and
    the org's version (for the cached company settings), its registration."""

    auth: AgentAuth
    company_id: str
    org_version: str
    registration: Registration


@dataclass(frozen=True)
class RegisterWrite:
    """A REGISTER's decision: the registrar's outcome (written only when ok), the session
    update, and the WebSocket connection it came over as (node, peer, TTL)."""

    outcome: RegisterOutcome
    session: SessionUpdate | None = None
    connection: tuple[str, str, int] | None = None


@metrics.timed_state
class Registrations(Store):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._commit = client.register_script(COMMIT_REGISTER)

    def register_view(self, org_id: str, ext: str, source_ip: str, nonce_use: str = "") -> RegisterView:
        with self.r.pipeline(transaction=False) as p:
            p.hmget(keys.agent(org_id, ext), "ha1", "company")
            queue_auth(p, org_id, ext, source_ip, nonce_use)
            p.get(keys.org_version(org_id))
            p.hgetall(keys.bindings(org_id, ext))
            p.hgetall(keys.session(org_id, ext))
            (ha1, company), *rows, version, bindings, session = p.execute()
        return RegisterView(auth_from(ha1, rows), company or "", version or "0", Registration(bindings, session))

    def registration(self, org_id: str, ext: str) -> Registration:
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.bindings(org_id, ext))
            p.hgetall(keys.session(org_id, ext))
            bindings, session = p.execute()
        return Registration(bindings, session)

    def register(
        self, org_id: str, ext: str, current: Registration, decide: Callable[[Registration], RegisterWrite]
    ) -> RegisterWrite:
        """Writes what `decide` makes of the agent's registration in one script call, if the
        registration is still `current`; else reads it again and decides again (concurrent
        REGISTERs of one agent). A refusal writes nothing."""
        for _ in range(MAX_RETRIES):
            write = decide(current)
            if not write.outcome.ok or self._commit_register(org_id, ext, current, write):
                return write
            current = self.registration(org_id, ext)
        raise Conflict("too many concurrent changes, try again")

    def _commit_register(self, org_id: str, ext: str, current: Registration, write: RegisterWrite) -> bool:
        bindings = write.outcome.bindings
        now = time.time()
        change: dict[str, object] = {
            "bindings": {b.contact: json.dumps(asdict(b)) for b in bindings},
            "ttl": max(1, int(max((b.expires_at for b in bindings), default=now) - now) + 1),
        }
        if write.session is not None:
            change["online_until"] = json.dumps(write.session.online_until)
            if write.session.started is not None:
                change["session"] = encode(write.session.started)
        conn_key = keys.connection("", "")  # named for the script, written only with a connection
        if write.connection is not None:
            node, peer, ttl = write.connection
            conn_key = keys.connection(node, peer)
            change.update(conn=f"{org_id}:{ext}", conn_ttl=max(1, ttl))
        expected = {"bindings": current.bindings_raw, "session": current.session_raw}
        keys_ = [keys.bindings(org_id, ext), keys.session(org_id, ext), conn_key]
        with self.r.pipeline(transaction=False) as p:
            p.evalsha(self._commit.sha, len(keys_), *keys_, json.dumps(expected), json.dumps(change))
            queue_agent_changed(p, org_id, ext)  # harmless when the commit found a change
            try:
                committed, _ = p.execute()
            except redis.exceptions.NoScriptError:  # a restarted Redis: load it, go again
                committed = self._commit(keys_, [json.dumps(expected), json.dumps(change)])
                self.r.eval(AGENT_CHANGED, 0, PREFIX, org_id, ext, WAKE_MEMORY)
        if committed != 1:
            return False
        self._replicated()  # the 200 OK goes out once a failover cannot lose the binding
        return True

    def record_auth_failure(self, org_id: str, ext: str, source_ip: str, per_agent: bool) -> int:
        """Counts a failure from a source against the agent, or (policy.auth_policy) against the
        source's one counter for names that are no agent."""
        key = keys.authfail(org_id, ext, source_ip) if per_agent else keys.authfail_unknown(org_id, source_ip)
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, AUTH_FAILURE_WINDOW)
            count, _ = p.execute()
        return int(count)

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
            outcome = change(current)
            if not outcome.ok:
                return outcome  # nothing written
            p.multi()
            p.delete(key)
            now = time.time()
            if outcome.bindings:
                p.hset(key, mapping={b.contact: json.dumps(asdict(b)) for b in outcome.bindings})
                p.expire(key, max(1, int(max(b.expires_at for b in outcome.bindings) - now) + 1))
            elif live(current, now):
                # The last binding went (unregister, vanished connection): offline from now.
                p.hset(keys.session(org_id, ext), "online_until", json.dumps(now))
            queue_agent_changed(p, org_id, ext)
            return outcome

        outcome = self._optimistic([key], body)
        if outcome.ok:
            self._replicated()
        return outcome

    def remember_connection(self, node: str, peer: str, org_id: str, ext: str, ttl: int) -> None:
        """Which agent registered over the WebSocket from `peer` (ip:port), for when it closes."""
        self.r.set(keys.connection(node, peer), f"{org_id}:{ext}", ex=max(1, ttl))

    def connection_owner(self, node: str, peer: str) -> tuple[str, str] | None:
        owner = self.r.getdel(keys.connection(node, peer))
        if not owner:
            return None
        org_id, _, ext = owner.partition(":")
        return org_id, ext
