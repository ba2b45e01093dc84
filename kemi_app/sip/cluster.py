"""Several edge nodes as one (the KSR side of policy/cluster).

- Heartbeat: the node's card in Redis, refreshed by the rtimer process every few seconds
  (`heartbeat`, from sip/routes.py); a node found dead is buried once.
- Hand-over: a call for an agent whose connection lives on another node goes to that node
  with a signed X-Edge-Peer header (`sign_branch`, in the branch route); the node holding the
  connection checks it and delivers the request over the connection (`deliver`), without a
  second authentication or policy decision. The node the call entered anchors the dialog,
  its media and its history; the delivering node only Record-Routes (flagged as hand-over),
  so in-dialog requests pass through it untouched.
- Inbox: a node tells the others about an agent who vanished from it; the node anchoring
  the agent's calls ends them (sip/vanish.py, from the same rtimer).
- Drain: a flag in shared memory (`htable node`) set by the launcher over RPC: OPTIONS get
  503 and new calls and registrations are refused with Retry-After, so clients go elsewhere.
"""

from __future__ import annotations

import time

import KSR

from kemi_app import metrics
from kemi_app.policy import cluster, dialog_token
from kemi_app.sip import dialog_guard
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, pv, reply

PEER_HEADER = "X-Edge-Peer"
DESTINATION_PARAM = "edgedst"  # on the dst URI of a branch to another node: where it delivers
NODE_TABLE = "node"  # htable (kamailio.cfg) of this node's flags: "started" (sip/routes.py), DRAINING
DRAINING = "draining"
RETRY_AFTER = "Retry-After: 30"


def draining() -> bool:
    return KSR.htable.sht_get(NODE_TABLE, DRAINING) is not None


def refuse_draining() -> None:
    reply(503, "Node Draining", (RETRY_AFTER,))


def card(ctx: Context) -> dict[str, object]:
    s = ctx.settings
    return {"sip": s.node_uri, "admin": f"http://{s.admin_addr}:{s.admin_port}", "draining": draining()}


def heartbeat(ctx: Context) -> None:
    """This node's heartbeat; a node found dead is buried by exactly one live node, which drops
    the call records its dialogs made (no end event will come), so its agents are not left
    in-call when they register elsewhere."""
    for node in ctx.state.nodes.heartbeat(ctx.settings.node_uri, card(ctx)):
        if ctx.state.nodes.bury(node):
            dropped = ctx.state.agents.forget_node_calls(node)
            KSR.notice(f"node {node} is dead (no heartbeat): {dropped} call record(s) of its dialogs dropped\n")


def from_peer(ctx: Context) -> bool:
    """Sent by a configured peer node (its replies and in-dialog requests are already fixed up
    by that node: no second NAT alias). By address only: over TCP the source port is any."""
    return pv("$si") in ctx.settings.peer_hosts


def peer_nodes(ctx: Context) -> list[str]:
    return [f"sip:{hostport}" for hostport in sorted(ctx.settings.peer_addresses)]


def branch_target(node_uri: str, received: str) -> str:
    """The dst URI of a branch to another node: the node (over TCP: a WebRTC offer is larger
    than one UDP datagram fits without IP fragmentation), and where it must deliver."""
    return f"{node_uri};transport=tcp;{DESTINATION_PARAM}={cluster.encode_destination(received)}"


def sign_branch(ctx: Context) -> None:
    """Branch route: a branch to another node carries the signed hand-over."""
    destination_uri = pv("$du")
    if DESTINATION_PARAM not in destination_uri.lower():  # most branches: not parsed at all
        return
    field = dialog_token.uri_params(destination_uri).get(DESTINATION_PARAM, "")
    if not field:
        return
    destination = cluster.decode_destination(field)
    if destination is None:
        return
    handover = cluster.sign(ctx.settings.auth_secret, pv("$ci"), pv("$ru"), destination, time.time())
    KSR.hdr.remove(PEER_HEADER)
    KSR.hdr.append(f"{PEER_HEADER}: {handover.header_value()}\r\n")


def deliver(ctx: Context) -> bool:
    """An initial request another node handed over: checked and delivered over the agent's
    connection, or refused. False when the request is no hand-over."""
    if KSR.hdr.is_present(PEER_HEADER) <= 0:
        return False
    if not from_peer(ctx):
        metrics.sip_refused("not_a_peer")
        reply(403, "Not A Peer Node")
        return True
    handover = cluster.verify(ctx.settings.auth_secret, pv("$ci"), pv("$ru"), pv(f"$hdr({PEER_HEADER})"),
                              time.time())
    if handover is None:
        metrics.sip_refused("bad_peer_signature")
        reply(403, "Bad Peer Signature")
        return True
    KSR.hdr.remove(PEER_HEADER)
    if KSR.is_INVITE() > 0:
        dialog_guard.record_route(ctx, handover=True)
        # Tracked so that a drain waits for it; recorded by the anchor only (sip/dialogs.py).
        KSR.dialog.dlg_manage()
        CallRecord(handover=True).save()
    KSR.setdsturi(handover.destination)
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
    return True
