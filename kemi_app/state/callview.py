"""Everything the policy needs for an agent's new call, in one pipelined Redis round trip,
including the version counters of the per-worker caches (state/lookups.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.extensions import is_agent_ext, is_service_ext
from kemi_app.policy.cluster import reachable
from kemi_app.policy.pause import AgentStatus
from kemi_app.policy.registration import Binding
from kemi_app.policy.session import LoginSession
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.agentstate import bindings_from, session_from, status_from
from kemi_app.state.base import Store
from kemi_app.state.codec import decode

NONCE_MEMORY = 310  # auth's nonce_expire (300 s) and drift: a nonce is remembered while valid
# KEYS: agent hash, nonce use. Uses are recorded for existing agents only (no key per made-up name).
CLAIM_NONCE = """
if redis.call('exists', KEYS[1]) == 0 then return 1 end
if redis.call('set', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""


@dataclass(frozen=True)
class AgentAuth:
    ha1: str | None
    failures: int
    fresh: bool = True  # False: these exact credentials were used before (a replay)


def queue_auth(p: Pipeline, org_id: str, ext: str, source_ip: str, nonce_use: str) -> None:
    """Queues what auth_from reads: failures (the agent's, and those of unknown names) from
    this source, and the claim of this nonce use. The agent's HA1 is read by the caller."""
    p.mget(keys.authfail(org_id, ext, source_ip), keys.authfail_unknown(org_id, source_ip))
    if nonce_use:
        p.eval(CLAIM_NONCE, 2, keys.agent(org_id, ext), keys.nonce_use(nonce_use), NONCE_MEMORY)
    else:
        p.eval("return 1", 0)  # no nonce named: nothing to claim, the digest check fails anyway


AUTH_REPLIES = 2  # replies queued by queue_auth


def auth_from(ha1: str | None, rows: list) -> AgentAuth:
    (agent_failures, unknown_failures), fresh = rows
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
    callee_bindings: list[Binding] = field(default_factory=list)
    service: Service | None = None  # when a service extension was dialled


@metrics.timed_state
class CallViews(Store):
    def call_view(self, org_id: str, caller: str, source_ip: str, dialled: str, nonce_use: str) -> CallView:
        """Auth data, caller state and session, and the dialled agent or service: one round trip."""
        agent_dialled = is_agent_ext(dialled)
        service_dialled = is_service_ext(dialled)
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.agent(org_id, caller))
            queue_auth(p, org_id, caller, source_ip, nonce_use)
            p.hgetall(keys.status(org_id, caller))
            p.hgetall(keys.session(org_id, caller))
            p.get(keys.org_version(org_id))
            p.get(keys.GATEWAYS_VERSION)
            if agent_dialled:
                p.hgetall(keys.agent(org_id, dialled))
                p.hvals(keys.bindings(org_id, dialled))
                p.hgetall(keys.NODES)
            if service_dialled:
                p.hgetall(keys.service(org_id, dialled))
            rows = p.execute()
        agent, auth_rows, rest = rows[0], rows[1 : 1 + AUTH_REPLIES], rows[1 + AUTH_REPLIES :]
        status, session, org_version, gw_version, *target = rest
        view = CallView(
            auth=auth_from(agent.get("ha1"), auth_rows),
            caller=decode(Agent, agent, ext=caller),
            status=status_from(status),
            session=session_from(session),
            org_version=org_version or "0",
            gateways_version=gw_version or "0",
        )
        if agent_dialled:
            return CallView(**{**view.__dict__, "callee": decode(Agent, target[0], ext=dialled),
                               "callee_bindings": reachable(bindings_from(target[1]), target[2], time.time())})
        if service_dialled:
            return CallView(**{**view.__dict__, "service": decode(Service, target[0])})
        return view
