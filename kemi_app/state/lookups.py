"""What SIP requests read from the directory, cached per worker: every request needs it and
it rarely changes. Version counters (edge:version:*), read by the requests themselves, tell
when a cache is stale, so a write through the API is seen on the next call."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from kemi_app import metrics
from kemi_app.provisioning.company import DEFAULT_COMPANY, Company
from kemi_app.provisioning.did import Did
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.base import Store
from kemi_app.state.codec import decode
from kemi_app.state.directory import Directory
from kemi_app.state.guard import StoreUnavailable

ORG_CACHE_SECONDS = 5.0
ROUTES_CACHED = 10_000  # DIDs a worker keeps the route of (beyond: it starts over)
GATEWAY_VERSION_SECONDS = 2.0  # every initial request asks; a gateway change shows within this


@dataclass(frozen=True)
class InboundRoute:
    did: Did
    org: Org
    service: Service | None


@metrics.timed_state
class Lookups(Store):
    def __init__(self, client: redis.Redis, directory: Directory) -> None:
        super().__init__(client)
        self.directory = directory
        self._orgs: dict[str, tuple[float, Org | None]] = {}
        self._companies: dict[str, tuple[str, dict[str, Company]]] = {}
        self._gateways: tuple[str, list[Gateway]] = ("", [])
        self._gateway_version: tuple[float, str] = (0.0, "0")
        # The gateways by address, for the list it was built from (every initial request asks).
        self._by_address: tuple[list[Gateway], dict[str, Gateway]] = ([], {})
        self._masking: dict[str, tuple[float, bool]] = {}
        # Carriers' calls: the route of each DID dialled, for the INBOUND_VERSION it was read at.
        self._routes: tuple[str, dict[str, InboundRoute | None]] = ("", {})

    @metrics.cached
    def org_by_domain(self, domain: str) -> Org | None:
        """Cached for a few seconds."""
        domain = domain.lower()
        now = time.monotonic()
        hit = self._orgs.get(domain)
        if hit and hit[0] > now:
            return hit[1]
        org = self._read_org(domain)
        self._orgs[domain] = (now + ORG_CACHE_SECONDS, org)
        return org

    @metrics.timed_as("org_by_domain")
    def _read_org(self, domain: str) -> Org | None:
        org_id = self.r.get(keys.domain(domain))
        return self.directory.get_org(org_id) if org_id else None

    @metrics.cached
    def company_of(self, org_id: str, company_id: str, version: str) -> Company:
        """The agent's company settings (reloaded when the org's version moved). No company,
        or a vanished one, means the documented defaults."""
        cached = self._companies.get(org_id)
        if cached is None or cached[0] != version:
            cached = (version, {c.id: c for c in self.directory.list_companies(org_id)})
            self._companies[org_id] = cached
        return cached[1].get(company_id, DEFAULT_COMPANY) if company_id else DEFAULT_COMPANY

    @metrics.cached
    def blocking_companies(self, org_id: str) -> list[str]:
        """The org's companies that block calls during pause, as company_of last loaded them
        (none before it did): a hint that may lag the org's latest change."""
        cached = self._companies.get(org_id)
        return [c.id for c in cached[1].values() if c.block_calls_during_pause] if cached else []

    @metrics.cached
    def org_masks(self, org_id: str) -> bool:
        """Does any company of the org mask customers' numbers? Cached for a few seconds, so
        customer calls of orgs that never mask cost no Redis round trip per branch."""
        now = time.monotonic()
        hit = self._masking.get(org_id)
        if hit and hit[0] > now:
            return hit[1]
        masks = any(c.mask_customer_numbers for c in self.directory.list_companies(org_id))
        self._masking[org_id] = (now + ORG_CACHE_SECONDS, masks)
        return masks

    def company_for_agent(self, org_id: str, ext: str) -> Company:
        with self.r.pipeline(transaction=False) as p:
            p.hget(keys.agent(org_id, ext), "company")
            p.get(keys.org_version(org_id))
            company_id, version = p.execute()
        return self.company_of(org_id, company_id or "", version or "0")

    @metrics.cached
    def gateways_cached(self, version: str) -> list[Gateway]:
        if self._gateways[0] != version:
            self._gateways = (version, self.directory.list_gateways())
        return self._gateways[1]

    @metrics.cached
    def gateways(self) -> list[Gateway]:
        """The carrier gateways, re-read when their version changed (asked at most every
        GATEWAY_VERSION_SECONDS). While Redis cannot be reached the worker's last known list
        answers: carriers stay recognised."""
        now = time.monotonic()
        if self._gateway_version[0] < now:
            try:
                version = self._refresh_gateways()
                self._gateway_version = (now + GATEWAY_VERSION_SECONDS, version)
            except StoreUnavailable:
                self._gateway_version = (now + GATEWAY_VERSION_SECONDS, self._gateway_version[1])
        return self._gateways[1]

    @metrics.timed_as("gateways")
    def _refresh_gateways(self) -> str:
        version = self.r.get(keys.GATEWAYS_VERSION) or "0"
        self.gateways_cached(version)
        return version

    @metrics.cached
    def gateway_from(self, ip: str, port: int) -> Gateway | None:
        """The carrier gateway a request comes from, matched on address and port."""
        gateways = self.gateways()
        if self._by_address[0] is not gateways:
            # reversed: of two gateways on one address, the first listed answers
            self._by_address = (gateways, {g.address: g for g in reversed(gateways)})
        return self._by_address[1].get(f"sip:{ip}:{port}")

    def inbound_route(self, number: str) -> InboundRoute | None:
        """The DID's org and service, checked against the version they were last written at
        (keys.INBOUND_VERSION): while it holds, they are this worker's copy, so a write through
        the API is seen by the next call. A DID not copied yet is read with that version."""
        cached_at, routes = self._routes
        if number in routes and self.r.get(keys.INBOUND_VERSION) == cached_at:
            return routes[number]
        with self.r.pipeline(transaction=False) as p:
            p.get(keys.INBOUND_VERSION)  # first: what is read next is at least as new
            p.hgetall(keys.did(number))
            version, did = p.execute()
        route = self._route_of(decode(Did, did))
        if version:  # else never written by this edge's directory: nothing to cache by
            if version != cached_at or len(routes) >= ROUTES_CACHED:
                routes = {}
                self._routes = (version, routes)
            routes[number] = route
        return route

    @metrics.cached
    def cached_route(self, number: str) -> tuple[str, InboundRoute | None] | None:
        """This worker's copy of the DID's route and the version it was read at, without asking
        Redis (None: no copy). Whoever acts on it checks that version in a round trip it makes
        anyway (state/queues.Queues.pick)."""
        version, routes = self._routes
        return (version, routes[number]) if number in routes else None

    def _route_of(self, did: Did | None) -> InboundRoute | None:
        if did is None:
            return None
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.org(did.org))
            p.hgetall(keys.service(did.org, did.service))
            org, service = p.execute()
        found = decode(Org, org)
        return InboundRoute(did, found, decode(Service, service)) if found else None
