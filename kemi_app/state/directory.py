"""Provisioning data: orgs, org links, companies, agents, services, gateways and DIDs.

Every write is one MULTI/EXEC; the ones that check other records first WATCH them, so a
concurrent change makes the write retry instead of landing half-checked. Behind Sentinel a
write returns once the replica holds it (Store._replicated).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import redis
from redis.client import Pipeline

from kemi_app import metrics
from kemi_app.policy.gateway import in_order
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.did import Did
from kemi_app.provisioning.errors import Conflict, Missing, ValidationError
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.base import Store, T
from kemi_app.state.codec import decode, encode
from kemi_app.state.queues import queue_agent_changed, queue_membership


@metrics.timed_state
class Directory(Store):
    def _optimistic(self, watch: list[str], body: Callable[[Pipeline], T]) -> T:
        result = super()._optimistic(watch, body)
        self._replicated()
        return result

    def _require_org(self, p: Pipeline | redis.Redis, org_id: str) -> Org:
        org = decode(Org, p.hgetall(keys.org(org_id)))
        if org is None:
            raise Missing(f"no such org: {org_id}")
        return org

    # -- orgs ---------------------------------------------------------------
    def get_org(self, org_id: str) -> Org | None:
        return decode(Org, self.r.hgetall(keys.org(org_id)))

    def list_orgs(self) -> list[Org]:
        return self._load_all(Org, keys.ORGS, keys.org)

    def save_org(self, org: Org) -> bool:
        """Create or replace; True when created. The domain is the agents' digest realm, so it
        cannot change while the org has agents (their HA1 would silently stop matching)."""

        def body(p: Pipeline) -> bool:
            old = decode(Org, p.hgetall(keys.org(org.id)))
            owner = p.get(keys.domain(org.domain))
            if owner and owner != org.id:
                raise Conflict(f"domain {org.domain} belongs to org {owner}")
            if old and old.domain != org.domain and p.scard(keys.agents(org.id)):
                raise Conflict("the domain cannot change while the org has agents: their HA1 digests use it")
            p.multi()
            if old and old.domain != org.domain:
                p.delete(keys.domain(old.domain))
            p.delete(keys.org(org.id))
            p.hset(keys.org(org.id), mapping=encode(org))
            p.set(keys.domain(org.domain), org.id)
            p.sadd(keys.ORGS, org.id)
            p.incr(keys.org_version(org.id))
            _inbound_changed(p)
            return old is None

        return self._optimistic([keys.org(org.id), keys.domain(org.domain), keys.agents(org.id)], body)

    def delete_org(self, org_id: str, force: bool = False) -> bool:
        """Removes the org and everything in it. Refused (409) while one of its agents is in a
        call unless forced; forced, calls in progress continue until they hang up."""
        members_keys = [keys.agents(org_id), keys.companies(org_id), keys.services(org_id), keys.DIDS, keys.ORGS]

        def body(p: Pipeline) -> bool:
            org = decode(Org, p.hgetall(keys.org(org_id)))
            if org is None:
                return False
            exts = sorted(p.smembers(keys.agents(org_id)))
            busy = [ext for ext in exts if p.hlen(keys.calls(org_id, ext))]
            if busy and not force:
                raise Conflict(f"agents in a call: {', '.join(busy)} (use force to delete anyway)")
            companies = p.smembers(keys.companies(org_id))
            services = p.smembers(keys.services(org_id))
            dids = [n for n in p.smembers(keys.DIDS) if p.hget(keys.did(n), "org") == org_id]
            others = p.smembers(keys.ORGS)
            p.multi()
            for ext in exts:
                _queue_agent_delete(p, org_id, ext)
            for c in companies:
                p.delete(keys.company(org_id, c))
            for s in services:
                p.delete(keys.service(org_id, s), keys.queue_members(org_id, s), keys.queue_free(org_id, s),
                         keys.queue_waiting(org_id, s), keys.queue_waiters(org_id, s))
            for ext in exts:
                p.delete(keys.member_of(org_id, ext))
            for n in dids:
                p.delete(keys.did(n))
                p.srem(keys.DIDS, n)
            for other in others:
                p.srem(keys.links(other), org_id)
            p.delete(keys.org(org_id), keys.domain(org.domain), keys.agents(org_id), keys.companies(org_id),
                     keys.services(org_id), keys.links(org_id))
            # The version survives (bumped, never reset): a worker that cached this org's
            # companies must not take a recreated org's version for the one it saw.
            p.incr(keys.org_version(org_id))
            _inbound_changed(p)
            p.srem(keys.ORGS, org_id)
            return True

        return self._optimistic([keys.org(org_id), *members_keys], body)

    # -- org links ----------------------------------------------------------
    def list_links(self, org_id: str) -> list[str]:
        if self.get_org(org_id) is None:
            raise Missing(f"no such org: {org_id}")
        return sorted(self.r.smembers(keys.links(org_id)))

    def save_link(self, org_id: str, target: str) -> bool:
        def body(p: Pipeline) -> bool:
            self._require_org(p, org_id)
            if target == org_id:
                raise ValidationError("target", "an org cannot link to itself")
            if not p.exists(keys.org(target)):
                raise ValidationError("target", f"no such org: {target}")
            p.multi()
            p.sadd(keys.links(org_id), target)
            p.incr(keys.org_version(org_id))
            return True

        return self._optimistic([keys.org(org_id), keys.org(target)], body)

    def delete_link(self, org_id: str, target: str) -> bool:
        removed = bool(self.r.srem(keys.links(org_id), target))
        self._replicated()
        return removed

    # -- companies ----------------------------------------------------------
    def get_company(self, org_id: str, company_id: str) -> Company | None:
        return decode(Company, self.r.hgetall(keys.company(org_id, company_id)))

    def list_companies(self, org_id: str) -> list[Company]:
        return self._load_all(Company, keys.companies(org_id), lambda c: keys.company(org_id, c))

    def save_company(self, org_id: str, company: Company) -> bool:
        key = keys.company(org_id, company.id)

        def body(p: Pipeline) -> bool:
            self._require_org(p, org_id)
            created = not p.exists(key)
            p.multi()
            p.delete(key)
            p.hset(key, mapping=encode(company))
            p.sadd(keys.companies(org_id), company.id)
            p.incr(keys.org_version(org_id))
            return created

        return self._optimistic([keys.org(org_id), key], body)

    def delete_company(self, org_id: str, company_id: str) -> bool:
        """Refused (409) while agents belong to it: they would silently lose their settings."""
        key = keys.company(org_id, company_id)
        exts = sorted(self.r.smembers(keys.agents(org_id)))

        def body(p: Pipeline) -> bool:
            if not p.exists(key):
                return False
            users = [ext for ext in exts if p.hget(keys.agent(org_id, ext), "company") == company_id]
            if users:
                raise Conflict(f"company {company_id} still has agents: {', '.join(users)}")
            p.multi()
            p.delete(key)
            p.srem(keys.companies(org_id), company_id)
            p.incr(keys.org_version(org_id))
            return True

        return self._optimistic([key, keys.agents(org_id), *(keys.agent(org_id, e) for e in exts)], body)

    # -- agents -------------------------------------------------------------
    def get_agent(self, org_id: str, ext: str) -> Agent | None:
        return decode(Agent, self.r.hgetall(keys.agent(org_id, ext)), ext=ext)

    def list_agents(self, org_id: str) -> list[Agent]:
        return self._load_all(Agent, keys.agents(org_id), lambda e: keys.agent(org_id, e))

    def save_agent(self, org_id: str, agent: Agent) -> bool:
        key = keys.agent(org_id, agent.ext)
        watch = [keys.org(org_id), key]
        if agent.company:
            watch.append(keys.company(org_id, agent.company))

        def body(p: Pipeline) -> bool:
            self._require_org(p, org_id)
            if agent.company and not p.exists(keys.company(org_id, agent.company)):
                raise ValidationError("company", f"no such company in org {org_id}: {agent.company}")
            before = p.hget(key, "ha1")
            member = keys.registration(org_id, agent.ext)
            # New credentials: its phones' next refreshes are authenticated afresh, on every node.
            registered = p.zscore(keys.REGISTRATIONS, member) if before not in (None, agent.ha1) else None
            p.multi()
            p.delete(key)
            p.hset(key, mapping=encode(agent))
            if registered is not None:
                p.zrem(keys.REGISTRATIONS, member)
                p.zadd(keys.REGISTRATIONS_REAUTH, {member: registered})
            p.sadd(keys.agents(org_id), agent.ext)
            agent_written(p, org_id, agent.ext)
            queue_agent_changed(p, org_id, agent.ext)  # DND may have changed
            return before is None

        return self._optimistic(watch, body)

    def delete_agent(self, org_id: str, ext: str, force: bool = False) -> bool:
        """Refused (409) while the agent is in a call unless forced. Forced, the call goes on
        until hang-up; the agent can no longer register, authenticate or be called."""
        key = keys.agent(org_id, ext)

        def body(p: Pipeline) -> bool:
            if not p.exists(key):
                return False
            calls = p.hlen(keys.calls(org_id, ext))
            if calls and not force:
                raise Conflict(f"agent {ext} is in {calls} call(s) (use force to delete anyway)")
            p.multi()
            _queue_agent_delete(p, org_id, ext)
            return True

        return self._optimistic([key, keys.calls(org_id, ext)], body)

    def set_dnd(self, org_id: str, ext: str, dnd: bool) -> None:
        key = keys.agent(org_id, ext)

        def body(p: Pipeline) -> None:
            if not p.exists(key):
                raise Missing(f"no such agent: {ext}")
            p.multi()
            p.hset(key, "dnd", "true" if dnd else "false")
            agent_written(p, org_id, ext)
            queue_agent_changed(p, org_id, ext)

        self._optimistic([key], body)

    # -- services -----------------------------------------------------------
    def get_service(self, org_id: str, ext: str) -> Service | None:
        return decode(Service, self.r.hgetall(keys.service(org_id, ext)))

    def list_services(self, org_id: str) -> list[Service]:
        return self._load_all(Service, keys.services(org_id), lambda e: keys.service(org_id, e))

    def save_service(self, org_id: str, service: Service) -> bool:
        key = keys.service(org_id, service.ext)

        def body(p: Pipeline) -> bool:
            self._require_org(p, org_id)
            before = decode(Service, p.hgetall(key))
            p.multi()
            p.delete(key)
            p.hset(key, mapping=encode(service))
            p.sadd(keys.services(org_id), service.ext)
            p.incr(keys.org_version(org_id))
            _inbound_changed(p)
            queue_membership(p, org_id, before, service)
            return before is None

        return self._optimistic([keys.org(org_id), key], body)

    def delete_service(self, org_id: str, ext: str) -> bool:
        """Refused (409) while a DID lands on it: carrier calls would have nowhere to go."""
        key = keys.service(org_id, ext)

        def body(p: Pipeline) -> bool:
            if not p.exists(key):
                return False
            dids = sorted(n for n in p.smembers(keys.DIDS) if p.hmget(keys.did(n), "org", "service") == [org_id, ext])
            if dids:
                raise Conflict(f"DIDs still land on service {ext}: {', '.join(dids)}")
            before = decode(Service, p.hgetall(key))
            p.multi()
            queue_membership(p, org_id, before, None)
            p.delete(key)
            p.srem(keys.services(org_id), ext)
            p.incr(keys.org_version(org_id))
            _inbound_changed(p)
            return True

        return self._optimistic([key, keys.DIDS], body)

    # -- carrier gateways ---------------------------------------------------
    def get_gateway(self, gw_id: str) -> Gateway | None:
        return decode(Gateway, self.r.hgetall(keys.gateway(gw_id)))

    def list_gateways(self) -> list[Gateway]:
        return in_order(self._load_all(Gateway, keys.GATEWAYS, keys.gateway))

    def save_gateway(self, gateway: Gateway) -> bool:
        key = keys.gateway(gateway.id)

        def body(p: Pipeline) -> bool:
            created = not p.exists(key)
            p.multi()
            p.delete(key)
            p.hset(key, mapping=encode(gateway))
            p.sadd(keys.GATEWAYS, gateway.id)
            p.incr(keys.GATEWAYS_VERSION)
            return created

        return self._optimistic([key], body)

    def delete_gateway(self, gw_id: str) -> bool:
        with self.r.pipeline(transaction=True) as p:
            p.delete(keys.gateway(gw_id))
            p.srem(keys.GATEWAYS, gw_id)
            p.incr(keys.GATEWAYS_VERSION)
            deleted, _, _ = p.execute()
        self._replicated()
        return bool(deleted)

    # -- DIDs ---------------------------------------------------------------
    def get_did(self, number: str) -> Did | None:
        return decode(Did, self.r.hgetall(keys.did(number)))

    def list_dids(self) -> list[Did]:
        return self._load_all(Did, keys.DIDS, keys.did)

    def save_did(self, did: Did) -> bool:
        key = keys.did(did.number)
        service_key = keys.service(did.org, did.service)

        def body(p: Pipeline) -> bool:
            if not p.exists(keys.org(did.org)):
                raise ValidationError("org", f"no such org: {did.org}")
            if not p.exists(service_key):
                raise ValidationError("service", f"no such service in org {did.org}: {did.service}")
            created = not p.exists(key)
            p.multi()
            p.delete(key)
            p.hset(key, mapping=encode(did))
            p.sadd(keys.DIDS, did.number)
            _inbound_changed(p)
            return created

        return self._optimistic([key, keys.org(did.org), service_key], body)

    def delete_did(self, number: str) -> bool:
        with self.r.pipeline(transaction=True) as p:
            p.delete(keys.did(number))
            p.srem(keys.DIDS, number)
            _inbound_changed(p)
            deleted, *_ = p.execute()
        self._replicated()
        return bool(deleted)


def _inbound_changed(p: Pipeline) -> None:
    """In the transaction of a write to a DID, an org or a service: workers' cached routes of
    carriers' calls (Lookups.inbound_route) are read again."""
    p.set(keys.INBOUND_VERSION, secrets.token_hex(8))


def _queue_agent_delete(p: Pipeline, org_id: str, ext: str) -> None:
    """Everything an agent owns except its call records, which the dialog end removes, and
    its call history, kept for its retention."""
    # Its version goes too: workers' copies of it are then stale (none stored matches), and a
    # call view gives none to an agent that does not exist.
    p.delete(keys.agent(org_id, ext), keys.bindings(org_id, ext), keys.status(org_id, ext),
             keys.session(org_id, ext), keys.offer(org_id, ext), keys.idle(org_id, ext),
             keys.agent_version(org_id, ext))
    p.zrem(keys.REGISTRATIONS, keys.registration(org_id, ext))
    p.zrem(keys.REGISTRATIONS_REAUTH, keys.registration(org_id, ext))
    p.srem(keys.agents(org_id), ext)
    queue_agent_changed(p, org_id, ext)  # out of its queues' free sets


def agent_written(p: Pipeline, org_id: str, ext: str) -> None:
    """In the transaction of a write to the agent: workers' copies of it (state/callview.py)
    are read again."""
    p.set(keys.agent_version(org_id, ext), secrets.token_hex(8))
