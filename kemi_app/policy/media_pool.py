"""Which rtpengine of the pool holds a call's media (pure).

Weighted rendezvous hashing on the Call-ID: every instance gets a score from a hash of
(Call-ID, instance address) scaled by its weight, and the call goes to the best-scoring
instance that is up. Every edge node computes the same order from the same configured pool,
with no shared state, and an instance going down moves only its own calls' choice: calls on
the others keep theirs. The instance chosen at the initial INVITE is also kept in the call's
record, which re-INVITEs, hold and delete use, so an instance coming back later does not
pull a call away from the one holding its media.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass

MAX_INSTANCES = 4  # kamailio.cfg declares one rtpengine set per instance, up to this many


class PoolError(ValueError):
    pass


@dataclass(frozen=True)
class MediaInstance:
    ng: str  # host:port of its ng control socket
    weight: int = 1


def parse_pool(text: str) -> tuple[MediaInstance, ...]:
    """`host:port[=weight],...` (EDGE_RTPENGINE_NG) into the pool, in configured order."""
    pool = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        ng, _, weight = item.partition("=")
        host, sep, port = ng.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise PoolError(f"rtpengine address is not host:port: {ng!r}")
        if weight and (not weight.isdigit() or int(weight) < 1):
            raise PoolError(f"rtpengine weight is not a positive integer: {weight!r}")
        pool.append(MediaInstance(ng, int(weight or 1)))
    if not pool:
        raise PoolError("no rtpengine configured")
    if len(pool) > MAX_INSTANCES:
        raise PoolError(f"at most {MAX_INSTANCES} rtpengine instances")
    if len({i.ng for i in pool}) != len(pool):
        raise PoolError("an rtpengine is listed twice")
    return tuple(pool)


def _score(call_id: str, instance: MediaInstance) -> float:
    digest = hashlib.blake2b(f"{instance.ng}\n{call_id}".encode(), digest_size=8).digest()
    uniform = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1)
    return -instance.weight / math.log(uniform)


def preference(call_id: str, pool: tuple[MediaInstance, ...]) -> list[int]:
    """Indices of the pool, best first for this call."""
    return sorted(range(len(pool)), key=lambda i: (-_score(call_id, pool[i]), i))


def choose(call_id: str, pool: tuple[MediaInstance, ...], down: Collection[int]) -> int | None:
    """The instance for a new call: the best one that is up (None: all are down)."""
    return next((i for i in preference(call_id, pool) if i not in down), None)


# An instance that missed this many pings in a row (one a second) is dead: the calls whose
# media it held are ended and reported. One missed ping already keeps new calls off it.
# An instance that started later than it did before was restarted in between (by a
# supervisor, faster than the misses add up): its sessions are gone all the same. Its start
# time is now - uptime, uptime in whole seconds: one process's estimates differ by under 1 s.
DEAD_AFTER_MISSES = 3
RESTART_SECONDS = 1.0


@dataclass(frozen=True)
class Health:
    misses: int = 0  # pings missed in a row
    started: float | None = None  # when it started (epoch seconds), as of its last answer


@dataclass(frozen=True)
class HealthChange:
    health: Health
    take_out: bool = False  # no new calls on it (first miss)
    put_back: bool = False  # it answers again: new calls may go to it
    dead: bool = False  # its calls' media is gone: end and report them (once per outage)


def after_ping(before: Health, started: float | None) -> HealthChange:
    """The change a ping makes: `started` is the instance's start time as its answer gives
    it, None when it missed."""
    if started is not None:
        restarted = before.started is not None and started - before.started >= RESTART_SECONDS
        kept = started if restarted or before.started is None else min(started, before.started)
        # A death already reported (three misses) is not reported again when it comes back.
        return HealthChange(Health(0, kept), put_back=before.misses > 0,
                            dead=restarted and before.misses < DEAD_AFTER_MISSES)
    misses = before.misses + 1
    return HealthChange(Health(misses, before.started), take_out=misses == 1, dead=misses == DEAD_AFTER_MISSES)


# Every initial offer labels the caller's side with the node that made it, so that one node's
# reconcile deletes only its own orphan sessions from an rtpengine the nodes share.
LABEL_PREFIX = "edge-"


def node_label(node_uri: str) -> str:
    return LABEL_PREFIX + node_uri.removeprefix("sip:")


def made_here(labels: Collection[str], mine: str) -> bool:
    """A session (its monologues' labels) is this node's: labelled so, or by no node at all
    (made before labels were set)."""
    nodes = {label for label in labels if label.startswith(LABEL_PREFIX)}
    return not nodes or mine in nodes
