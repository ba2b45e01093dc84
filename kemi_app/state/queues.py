"""Carrier calls and queues: who is calling (a gateway), what was dialled (a DID), and which
queue members may be offered the call, with an offer lock so one free agent never gets two."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kemi_app.policy.presence import Presence
from kemi_app.policy.queue import QueueMember
from kemi_app.provisioning.did import Did
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import keys
from kemi_app.state.base import StoreBase
from kemi_app.state.codec import decode

# Deletes the offer lock only if it still belongs to this attendance.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@dataclass(frozen=True)
class InboundRoute:
    did: Did
    org: Org
    service: Service | None


GATEWAY_VERSION_SECONDS = 2.0  # every initial request asks; a gateway change shows within this


class QueueStore(StoreBase):
    _gateway_version: tuple[float, str] = (0.0, "0")

    def gateway_from(self, ip: str, port: int) -> Gateway | None:
        """The carrier gateway a request comes from, matched on address and port."""
        now = time.monotonic()
        if self._gateway_version[0] < now:
            self._gateway_version = (now + GATEWAY_VERSION_SECONDS, self.r.get(keys.GATEWAYS_VERSION) or "0")
        version = self._gateway_version[1]
        for gateway in self.gateways_cached(version):  # type: ignore[attr-defined]
            if gateway.address == f"sip:{ip}:{port}":
                return gateway
        return None

    def inbound_route(self, number: str) -> InboundRoute | None:
        did = decode(Did, self.r.hgetall(keys.did(number)))
        if did is None:
            return None
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(keys.org(did.org))
            p.hgetall(keys.service(did.org, did.service))
            org, service = p.execute()
        found = decode(Org, org)
        return InboundRoute(did, found, decode(Service, service)) if found else None

    def queue_members(self, org_id: str, exts: list[str]) -> tuple[list[QueueMember], dict[str, bool]]:
        """Members as the queue sees them, and who wants auto-answer: two round trips."""
        presences: list[Presence] = self.presence(org_id, exts)  # type: ignore[attr-defined]
        with self.r.pipeline(transaction=False) as p:
            for ext in exts:
                p.hget(keys.agent(org_id, ext), "auto_answer")
                p.exists(keys.offer(org_id, ext))
                p.get(keys.idle(org_id, ext))
            rows = p.execute()
        members, auto_answer = [], {}
        for i, presence in enumerate(presences):
            auto, offered, idle = rows[3 * i : 3 * i + 3]
            auto_answer[presence.ext] = auto == "true"
            members.append(QueueMember(
                ext=presence.ext,
                registered=presence.state != "offline",
                state=presence.state,
                dnd=presence.dnd,
                active_calls=presence.calls,
                idle_since=max(presence.since or 0.0, float(idle or 0)),
                reserved=bool(offered),
            ))
        return members, auto_answer

    def reserve_offer(self, org_id: str, ext: str, attendance: str, ttl_ms: int) -> bool:
        return bool(self.r.set(keys.offer(org_id, ext), attendance, nx=True, px=ttl_ms))

    def release_offer(self, org_id: str, ext: str, attendance: str) -> None:
        self.r.eval(_RELEASE, 1, keys.offer(org_id, ext), attendance)
