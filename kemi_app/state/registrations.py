"""Registrations: digest credentials and failures, an agent's bindings, and which agent
registered over which WebSocket connection."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.registration import Binding, RegisterOutcome, live
from kemi_app.state import keys
from kemi_app.state.base import Store
from kemi_app.state.callview import AgentAuth, auth_from, queue_auth

AUTH_FAILURE_WINDOW = 300


@metrics.timed_state
class Registrations(Store):
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
            return outcome

        return self._optimistic([key], body)

    def remember_connection(self, node: str, peer: str, org_id: str, ext: str, ttl: int) -> None:
        """Which agent registered over the WebSocket from `peer` (ip:port), for when it closes."""
        self.r.set(keys.connection(node, peer), f"{org_id}:{ext}", ex=max(1, ttl))

    def connection_owner(self, node: str, peer: str) -> tuple[str, str] | None:
        owner = self.r.getdel(keys.connection(node, peer))
        if not owner:
            return None
        org_id, _, ext = owner.partition(":")
        return org_id, ext
