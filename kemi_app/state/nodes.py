"""Edge nodes: heartbeats (which nodes are alive), their cards, and an inbox per node through
which one node hands another work on the calls that node anchors."""

from __future__ import annotations

import json
import time

from kemi_app import metrics
from kemi_app.policy.cluster import HEARTBEAT_TTL, alive_until, heartbeat_value
from kemi_app.state import keys
from kemi_app.state.base import Store

INBOX_TTL = 300  # an inbox nobody reads (its node is dead) does not stay for ever
INBOX_BATCH = 100


@metrics.timed_state
class Nodes(Store):
    def heartbeat(self, node_uri: str, card: dict[str, object]) -> list[str]:
        """Writes this node's heartbeat; returns the nodes whose heartbeat lapsed (died)."""
        now = time.time()
        with self.r.pipeline(transaction=False) as p:
            p.hset(keys.NODES, node_uri, heartbeat_value(now))
            p.set(keys.node(node_uri), json.dumps(card), ex=HEARTBEAT_TTL)
            p.hgetall(keys.NODES)
            *_, nodes = p.execute()
        return [n for n in nodes if alive_until(nodes, n) <= now]

    def bury(self, node_uri: str) -> bool:
        """Takes a dead node out of the list; True for the one caller that did it."""
        return bool(self.r.hdel(keys.NODES, node_uri))

    def leave(self, node_uri: str) -> None:
        """A node that stops on purpose: its bindings stop counting at once."""
        with self.r.pipeline(transaction=False) as p:
            p.hdel(keys.NODES, node_uri)
            p.delete(keys.node(node_uri))
            p.execute()

    def alive(self) -> dict[str, dict[str, object]]:
        """Cards of the nodes whose heartbeat is in force."""
        nodes = self.r.hgetall(keys.NODES)
        now = time.time()
        names = [n for n in nodes if alive_until(nodes, n) > now]
        cards = self.r.mget([keys.node(n) for n in names]) if names else []
        return {n: json.loads(c) for n, c in zip(names, cards, strict=True) if c}

    def send(self, node_uris: list[str], message: dict[str, object]) -> None:
        if not node_uris:
            return
        raw = json.dumps(message)
        with self.r.pipeline(transaction=False) as p:
            for node_uri in node_uris:
                p.rpush(keys.node_inbox(node_uri), raw)
                p.expire(keys.node_inbox(node_uri), INBOX_TTL)
            p.execute()

    def receive(self, node_uri: str) -> list[dict[str, object]]:
        raw = self.r.lpop(keys.node_inbox(node_uri), INBOX_BATCH) or []
        return [json.loads(m) for m in raw]
