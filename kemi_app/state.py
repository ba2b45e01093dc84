"""All Redis access of the edge lives here, behind a small interface.

Keys (every edge node shares them):
  edge:domain:{domain}          -> org id
  edge:org:{org}                hash: domain, name, ...
  edge:agent:{org}:{ext}        hash: ha1, company, display_name, ...
  edge:bindings:{org}:{ext}     hash: contact URI -> JSON binding (see policy.registration)
  edge:authfail:{org}:{ext}:{ip} failed digest attempts, expiring
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis

from kemi_app import metrics
from kemi_app.policy.registration import Binding, RegisterOutcome, live

AUTH_FAILURE_WINDOW = 300
ORG_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Org:
    id: str
    domain: str
    name: str


@dataclass(frozen=True)
class AgentAuth:
    ha1: str | None
    failures: int


def _k(*parts: str) -> str:
    return "edge:" + ":".join(parts)


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True, health_check_interval=30
    )


@metrics.timed_state
class EdgeState:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._org_cache: dict[str, tuple[float, Org | None]] = {}

    # -- orgs ---------------------------------------------------------------
    def org_by_domain(self, domain: str) -> Org | None:
        """Cached for a few seconds: every SIP request needs it and it rarely changes."""
        domain = domain.lower()
        now = time.monotonic()
        hit = self._org_cache.get(domain)
        if hit and hit[0] > now:
            return hit[1]
        org_id = self.r.get(_k("domain", domain))
        org = None
        if org_id:
            data = self.r.hgetall(_k("org", org_id))
            if data:
                org = Org(id=org_id, domain=data.get("domain", domain), name=data.get("name", org_id))
        self._org_cache[domain] = (now + ORG_CACHE_SECONDS, org)
        return org

    def put_org(self, org_id: str, domain: str, name: str) -> None:
        old_domain = self.r.hget(_k("org", org_id), "domain")
        with self.r.pipeline(transaction=True) as p:
            if old_domain and old_domain != domain:
                p.delete(_k("domain", old_domain))
            p.hset(_k("org", org_id), mapping={"domain": domain.lower(), "name": name})
            p.set(_k("domain", domain.lower()), org_id)
            p.execute()

    # -- agents -------------------------------------------------------------
    def put_agent(self, org_id: str, ext: str, fields: dict[str, str]) -> None:
        self.r.hset(_k("agent", org_id, ext), mapping=fields)

    def agent_auth(self, org_id: str, ext: str, source_ip: str) -> AgentAuth:
        with self.r.pipeline(transaction=False) as p:
            p.hget(_k("agent", org_id, ext), "ha1")
            p.get(_k("authfail", org_id, ext, source_ip))
            ha1, failures = p.execute()
        return AgentAuth(ha1=ha1, failures=int(failures or 0))

    def record_auth_failure(self, org_id: str, ext: str, source_ip: str) -> int:
        key = _k("authfail", org_id, ext, source_ip)
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, AUTH_FAILURE_WINDOW)
            count, _ = p.execute()
        return int(count)

    # -- bindings -----------------------------------------------------------
    def agent_bindings(self, org_id: str, ext: str) -> tuple[bool, list[Binding]]:
        """(agent exists, its live bindings) in one round trip."""
        with self.r.pipeline(transaction=False) as p:
            p.exists(_k("agent", org_id, ext))
            p.hvals(_k("bindings", org_id, ext))
            exists, raw = p.execute()
        return bool(exists), live([Binding(**json.loads(v)) for v in raw], time.time())

    def bindings(self, org_id: str, ext: str) -> list[Binding]:
        return self.agent_bindings(org_id, ext)[1]

    def update_bindings(
        self, org_id: str, ext: str, change: Callable[[list[Binding]], RegisterOutcome]
    ) -> RegisterOutcome:
        """Read-change-write of one agent's bindings, atomic against concurrent REGISTERs."""
        key = _k("bindings", org_id, ext)
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
                    if outcome.bindings:
                        now = time.time()
                        p.hset(key, mapping={b.contact: json.dumps(asdict(b)) for b in outcome.bindings})
                        p.expire(key, max(1, int(max(b.expires_at for b in outcome.bindings) - now) + 1))
                    p.execute()
                    return outcome
                except redis.WatchError:
                    continue

    def drop_bindings(self, org_id: str, ext: str) -> None:
        self.r.delete(_k("bindings", org_id, ext))

    def agent_state_counts(self) -> dict[tuple[str, str], int]:
        """(org, state) -> agents, for the edge_agents gauge. Scans keys: scrape time only."""
        counts: dict[tuple[str, str], int] = {}
        for key in self.r.scan_iter(match=_k("bindings", "*"), count=1000):
            org = key.split(":")[2]
            counts[(org, "registered")] = counts.get((org, "registered"), 0) + 1
        return counts

    def ping(self) -> bool:
        return bool(self.r.ping())
