"""A call handed to the node holding the agent's connection (sip/forking, sip/cluster): the
branch carries a signature the other node checks before it delivers, and nothing else."""

from __future__ import annotations

import importlib
import json
import time
from typing import Any, cast

import pytest

from kemi_app.policy import dialog_token
from kemi_app.policy.registration import Binding
from kemi_app.settings import Settings
from tests.unit import fake_ksr

NODE_A = Settings.from_env({"EDGE_SIP_ADDR": "127.0.0.11", "EDGE_PEERS": "127.0.0.12:5060"})
NODE_B = Settings.from_env({"EDGE_SIP_ADDR": "127.0.0.12", "EDGE_PEERS": "127.0.0.11:5060"})
WS = "sip:127.0.0.1:40001;transport=ws"
CONTACT = "sip:a1b2@c3d4.invalid;transport=ws"


@pytest.fixture
def ksr():
    fake = fake_ksr.install({"$ci": "call-1"})
    yield fake
    fake_ksr.uninstall()


def _context(settings: Settings) -> Any:
    from kemi_app.sip.context import Context

    return Context(settings, state=cast(Any, None))


def _signed_header(ksr) -> str:
    """Node A forks to a binding held by node B, then its branch route runs for that branch."""
    forking = importlib.import_module("kemi_app.sip.forking")
    cluster = importlib.import_module("kemi_app.sip.cluster")
    binding = Binding(CONTACT, WS, "tcp:127.0.0.12:8080", NODE_B.node_uri, 0.0, "c", 1)
    forking.fork(_context(NODE_A), [binding])
    dst = next(args[0] for path, args in ksr.calls if path == "setdsturi")
    assert dst.startswith(f"{NODE_B.node_uri};transport=tcp;")
    ksr.pvs.update({"$du": dst, "$ru": CONTACT})
    cluster.sign_branch(_context(NODE_A))
    (header,) = [args[0] for path, args in ksr.calls if path == "hdr.append"]
    return header.removeprefix("X-Edge-Peer: ").strip()


def test_node_b_delivers_a_signed_handover_over_the_agents_connection(ksr) -> None:
    header = _signed_header(ksr)
    cluster = importlib.import_module("kemi_app.sip.cluster")
    ksr.calls.clear()
    ksr.pvs.update({"$si": "127.0.0.11", f"$hdr({cluster.PEER_HEADER})": header})
    ksr.answers["hdr.is_present"] = lambda name: 1
    assert cluster.deliver(_context(NODE_B))
    names = ksr.names()
    assert ("setdsturi", (WS,)) in ksr.calls and names[-1] == "tm.t_relay"
    assert "sl.send_reply" not in names  # no challenge, no refusal
    params = next(args[0] for path, args in ksr.calls if path == "rr.record_route_params")
    route = f"<sip:127.0.0.12:5060;lr{params}>"
    assert dialog_token.valid(NODE_B.auth_secret, "call-1", route, time.time())
    assert dialog_token.handed_over(route) and "dialog.dlg_manage" in names
    assert json.loads(ksr.pvs["$dlg_var(call)"])["handover"] is True  # its events are the anchor's


@pytest.mark.parametrize(("source", "target", "reason"), [
    ("127.0.0.1", CONTACT, "Not A Peer Node"),
    ("127.0.0.11", "sip:someone@else.invalid;transport=ws", "Bad Peer Signature"),
])
def test_node_b_refuses_a_handover_from_a_stranger_or_for_another_target(ksr, source, target, reason) -> None:
    header = _signed_header(ksr)
    cluster = importlib.import_module("kemi_app.sip.cluster")
    ksr.calls.clear()
    ksr.pvs.update({"$si": source, "$ru": target, f"$hdr({cluster.PEER_HEADER})": header})
    ksr.answers["hdr.is_present"] = lambda name: 1
    assert cluster.deliver(_context(NODE_B))
    assert ("sl.send_reply", (403, reason)) in ksr.calls and "tm.t_relay" not in ksr.names()
