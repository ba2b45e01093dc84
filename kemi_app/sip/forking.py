"""Forking a request to an agent's registered devices, wherever their connections live."""

from __future__ import annotations

import KSR

from kemi_app.policy.registration import Binding
from kemi_app.sip import cluster, media
from kemi_app.sip.callstate import Transaction
from kemi_app.sip.context import Context
from kemi_app.sip.tmroutes import BRANCH_ROUTE


def _branch_to(ctx: Context, binding: Binding) -> None:
    KSR.seturi(binding.contact)
    if binding.node == ctx.settings.node_uri:
        KSR.setdsturi(binding.received)
        KSR.corex.set_send_socket(binding.socket)
    else:
        # The connection lives on another edge node: hand the request to it (signed in the
        # branch route, sip/cluster.sign_branch).
        KSR.setdsturi(cluster.branch_target(binding.node, binding.received))
        # From this node's own address (the peer checks it), also where several share a host.
        KSR.corex.set_send_socket(f"tcp:{ctx.settings.sip_addr}:{ctx.settings.sip_port}")


def fork(ctx: Context, bindings: list[Binding], call: Transaction | None = None) -> bool:
    """Relays to every binding of one agent: extra ones become branches, the first stays
    the main R-URI. Works from the request route and from a failure route. `call`: the
    transaction of an agent's new call (not a queue's offer); relayed to one device of this
    node and placed by no carrier, its one branch needs only the media offer, made here
    without a branch route."""
    for binding in bindings[1:]:
        _branch_to(ctx, binding)
        KSR.corex.append_branch()
    _branch_to(ctx, bindings[0])
    if call is not None and len(bindings) == 1 and bindings[0].node == ctx.settings.node_uri \
            and not call.customer_caller:
        media.offer_one_branch(ctx, call)
    else:
        KSR.tm.t_on_branch(BRANCH_ROUTE)
    return media.relay(ctx)
