"""All Redis access of the edge lives in this package, behind one facade: EdgeState.

Keys (every edge node shares them; see keys.py):
  edge:domain:{domain}             -> org id
  edge:orgs, edge:org:{org}        set of org ids; hash of the org (policy.org.Org)
  edge:orglinks:{org}              set of orgs {org} may transfer calls to
  edge:companies:{org}, edge:company:{org}:{id}     (policy.company.Company)
  edge:agents:{org},    edge:agent:{org}:{ext}      (policy.agent.Agent: HA1, never passwords)
  edge:services:{org},  edge:service:{org}:{ext}    (policy.service.Service)
  edge:gateways,        edge:gateway:{id}           (policy.gateway.Gateway)
  edge:dids,            edge:did:{number}           (policy.did.Did)
  edge:version:{org}, edge:version:gateways         bumped on writes; workers' caches check them
  edge:bindings:{org}:{ext}        hash: contact URI -> JSON binding (see policy.registration)
  edge:status:{org}:{ext}          chosen status: available, or paused with a name
  edge:session:{org}:{ext}         current login session + online_until
  edge:calls:{org}:{ext}           hash: dialog key -> start time, for calls in progress
  edge:authfail:{org}:{ext}:{ip}   failed digest attempts of an agent from a source, expiring
  edge:authfail:{org}:?:{ip}       failed attempts from a source with names that are no agent
  edge:nonce:{hash}                a used nonce (user, nonce, nc, cnonce): a second use is a replay
  edge:conn:{node}:{ip:port}       agent registered over that WebSocket (cleanup when it closes)
  edge:att:{id}                    hash: an attendance (policy.attendance.Attendance), its legs
                                   and its history (state.attendance says how)
  edge:history                     stream of every attendance's events, capped by length and age
  edge:call:{call-id}              -> attendance id of a leg, while a call can last
  edge:xfer:{token}                a transfer let through in a REFER, awaiting its INVITE
  edge:recent:{org}:{ext}          an agent's recent attendance ids, newest first
  edge:offer:{org}:{ext}           a queue call is being offered to the agent (expiring lock)
  edge:idle:{org}:{ext}            when the agent's last call ended (longest idle first)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from kemi_app import metrics
from kemi_app.policy.registration import Binding, RegisterOutcome, live
from kemi_app.provisioning.org import Org
from kemi_app.state import keys
from kemi_app.state.agentstate import AgentStateStore
from kemi_app.state.attendance import AttendanceStore
from kemi_app.state.callview import AgentAuth, CallView, CallViewStore, auth_from, queue_auth
from kemi_app.state.directory import DirectoryStore
from kemi_app.state.guard import guarded, redis_dependency
from kemi_app.state.queues import QueueStore

__all__ = ["AgentAuth", "CallView", "EdgeState", "Org", "connect"]

AUTH_FAILURE_WINDOW = 300
ORG_CACHE_SECONDS = 5.0


def connect(url: str, timeout: float = 1.0) -> redis.Redis:
    """A client whose connections share one circuit breaker (see guard.py): SIP workers pass a
    short timeout, so a stalled Redis costs a few of them before requests get a fast 503."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True,
        health_check_interval=30, connection_class=guarded(redis_dependency()),
    )


@metrics.timed_state
class EdgeState(DirectoryStore, AgentStateStore, CallViewStore, AttendanceStore, QueueStore):
    def __init__(self, client: redis.Redis, history_retention_days: int = 30) -> None:
        self.r = client
        self.retention = history_retention_days * 86400
        self._org_cache: dict[str, tuple[float, Org | None]] = {}
        self._companies = {}
        self._gateways = ("", [])

    # -- orgs ---------------------------------------------------------------
    def org_by_domain(self, domain: str) -> Org | None:
        """Cached for a few seconds: every SIP request needs it and it rarely changes."""
        domain = domain.lower()
        now = time.monotonic()
        hit = self._org_cache.get(domain)
        if hit and hit[0] > now:
            return hit[1]
        org_id = self.r.get(keys.domain(domain))
        org = self.get_org(org_id) if org_id else None
        self._org_cache[domain] = (now + ORG_CACHE_SECONDS, org)
        return org

    # -- agents -------------------------------------------------------------
    def agent_auth(self, org_id: str, ext: str, source_ip: str, nonce_use: str = "") -> AgentAuth:
        with self.r.pipeline(transaction=False) as p:
            p.hget(keys.agent(org_id, ext), "ha1")
            queue_auth(p, org_id, ext, source_ip, nonce_use)
            ha1, *rows = p.execute()
        return auth_from(ha1, rows)

    def record_auth_failure(self, org_id: str, ext: str, source_ip: str, per_agent: bool) -> int:
        """Counts a failure from a source against the agent, or (policy.auth_policy) against the
        source's one counter for names that are no agent."""
        key = keys.authfail(org_id, ext, source_ip) if per_agent else keys.authfail_unknown(org_id, source_ip)
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, AUTH_FAILURE_WINDOW)
            count, _ = p.execute()
        return int(count)

    # -- bindings -----------------------------------------------------------
    def agent_bindings(self, org_id: str, ext: str) -> tuple[bool, list[Binding]]:
        """(agent exists, its live bindings) in one round trip."""
        with self.r.pipeline(transaction=False) as p:
            p.exists(keys.agent(org_id, ext))
            p.hvals(keys.bindings(org_id, ext))
            exists, raw = p.execute()
        return bool(exists), live([Binding(**json.loads(v)) for v in raw], time.time())

    def bindings(self, org_id: str, ext: str) -> list[Binding]:
        return self.agent_bindings(org_id, ext)[1]

    def update_bindings(
        self, org_id: str, ext: str, change: Callable[[list[Binding]], RegisterOutcome]
    ) -> RegisterOutcome:
        """Read-change-write of one agent's bindings, atomic against concurrent REGISTERs."""
        key = keys.bindings(org_id, ext)
        while True:
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(key)
                    current = [Binding(**json.loads(v)) for v in p.hvals(key)]
                    outcome = change(current)
                    if not outcome.ok:
                        return outcome
                    p.multi()
                    p.delete(key)
                    now = time.time()
                    if outcome.bindings:
                        p.hset(key, mapping={b.contact: json.dumps(asdict(b)) for b in outcome.bindings})
                        p.expire(key, max(1, int(max(b.expires_at for b in outcome.bindings) - now) + 1))
                    elif live(current, now):
                        # The last binding went (unregister, vanished connection): offline from now.
                        p.hset(keys.session(org_id, ext), "online_until", json.dumps(now))
                    p.execute()
                    return outcome
                except redis.WatchError:
                    continue

    def remember_connection(self, node: str, peer: str, org_id: str, ext: str, ttl: int) -> None:
        """Which agent registered over the WebSocket from `peer` (ip:port), for when it closes."""
        self.r.set(keys.connection(node, peer), f"{org_id}:{ext}", ex=max(1, ttl))

    def connection_owner(self, node: str, peer: str) -> tuple[str, str] | None:
        owner = self.r.getdel(keys.connection(node, peer))
        if not owner:
            return None
        org_id, _, ext = owner.partition(":")
        return org_id, ext

    def agent_state_counts(self) -> dict[tuple[str, str], int]:
        """(org, state) -> agents, for the edge_agents gauge: the presence states (available,
        paused, in-call, offline), one pipelined round trip per org. Scrape time only."""
        counts: dict[tuple[str, str], int] = {}
        for org in self.list_orgs():
            for agent in self.presence(org.id):
                counts[(org.id, agent.state)] = counts.get((org.id, agent.state), 0) + 1
        return counts

    def ping(self) -> bool:
        return bool(self.r.ping())
