"""Several edge nodes as one: which nodes are alive, and the signature one node puts on a
request it hands to the node holding the callee's connection.

Every node refreshes its heartbeat in Redis (`edge:nodes`: node URI -> until when it counts
as alive). A binding is used only while its node is alive, so the agents of a node that
died (kill -9) go offline and stop being offered calls once its heartbeat lapses.

A request handed over between nodes carries `X-Edge-Peer: <expiry>;<destination>;<signature>`:
an HMAC, keyed by the secret all nodes share, over the Call-ID, the Request-URI (the agent's
contact), the destination (the address the agent registered from, on the receiving node) and
the expiry. The receiving node checks it (and that the sender is a configured peer) and
delivers without a second authentication or policy decision.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from kemi_app.policy.registration import Binding, live

HEARTBEAT_TTL = 30  # seconds a node counts as alive after its last heartbeat
HEARTBEAT_EVERY = 5  # seconds between heartbeats: several may be missed before the TTL
HANDOVER_LIFETIME = 30  # seconds a signed hand-over is good for (retransmissions included)
SIGNATURE_HEX = 32


def alive_until(nodes: dict[str, str], node: str) -> float:
    try:
        return float(nodes.get(node, 0) or 0)
    except ValueError:
        return 0.0


def reachable(bindings: list[Binding], nodes: dict[str, str], now: float) -> list[Binding]:
    """The live bindings whose node is alive (a node's heartbeat counts for HEARTBEAT_TTL)."""
    return [b for b in live(bindings, now) if alive_until(nodes, b.node) > now]


def heartbeat_value(now: float) -> str:
    return repr(now + HEARTBEAT_TTL)


@dataclass(frozen=True)
class Handover:
    expires: int
    destination: str  # sip:ip:port;transport=x, where the agent's connection is on that node
    signature: str

    def header_value(self) -> str:
        return f"{self.expires};{encode_destination(self.destination)};{self.signature}"


def encode_destination(uri: str) -> str:
    """`sip:1.2.3.4:5;transport=ws` -> `1.2.3.4~5~ws` (no `;` or `:` inside the header's fields)."""
    hostport, _, params = uri.removeprefix("sip:").partition(";")
    host, _, port = hostport.rpartition(":")
    transport = params.partition("transport=")[2].split(";", 1)[0] or "udp"
    return f"{host}~{port}~{transport}"


def decode_destination(field: str) -> str | None:
    parts = field.split("~")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0] or not parts[2].isalpha():
        return None
    host, port, transport = parts
    return f"sip:{host}:{port};transport={transport.lower()}"


def _mac(secret: str, call_id: str, target: str, destination: str, expires: int) -> str:
    text = f"{call_id}|{target}|{destination}|{expires}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def sign(secret: str, call_id: str, target: str, destination: str, now: float) -> Handover:
    expires = int(now) + HANDOVER_LIFETIME
    return Handover(expires, destination, _mac(secret, call_id, target, destination, expires))


def verify(secret: str, call_id: str, target: str, header: str, now: float) -> Handover | None:
    """The hand-over named by an X-Edge-Peer value, if signed for this Call-ID and target and
    still in force; None otherwise."""
    fields = header.strip().split(";")
    if len(fields) != 3 or not fields[0].isdigit() or not call_id:
        return None
    expires, destination = int(fields[0]), decode_destination(fields[1])
    if destination is None or expires < now or expires > now + 2 * HANDOVER_LIFETIME:
        return None
    if not hmac.compare_digest(fields[2].lower(), _mac(secret, call_id, target, destination, expires)):
        return None
    return Handover(expires, destination, fields[2])


def peer_addresses(peers: str) -> frozenset[str]:
    """EDGE_PEERS (`host:port,...` or SIP URIs) -> the set of `host:port` trusted as peer nodes."""
    out = set()
    for item in peers.split(","):
        item = item.strip().removeprefix("sip:").split(";", 1)[0]
        if item:
            out.add(item if ":" in item else f"{item}:5060")
    return frozenset(out)
