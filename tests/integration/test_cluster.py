"""Several edge nodes as one (`./edge cluster`): three Kamailio nodes on 127.0.0.11-13 sharing
Redis behind Sentinel and two rtpengines. Agents registered on node 2 are reached by calls
entering the other nodes; a WebSocket closing on node 2 ends the calls node 1 anchors; one
rtpengine killed: new calls get media through the other; the Redis primary killed: calls
through every node work again within 10 s of the promotion and no registration is lost; node 2
killed -9: its agents go offline within the heartbeat TTL and take calls again once registered
elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from edgeops.cluster import Cluster
from edgeops.stack import Stack
from kemi_app.policy.cluster import HEARTBEAT_TTL, sign
from kemi_app.rtpengine_ng import ping
from kemi_app.state import EdgeState, connect, keys
from tests.conftest import edge_environment, pick_port_base
from tests.integration.contact_centre import DEST_DOMAIN, DID, DOMAIN, PASSWORD, ContactCentre
from tests.integration.helpers import PASSWORDS, answer_one, call, finish, register
from tests.integration.raw_sip import RawSip
from tests.integration.rtp import packets_from, pause, play, wait_for
from tests.integration.sip_probe import carrier_invite, options
from tests.integration.test_outages import recovery_seconds
from tests.integration.test_redis_ha import PROMOTION_SECONDS, SERVE_AGAIN_SECONDS, role
from tests.integration.test_transfers import REFER_OK, api
from tests.sipp import Sipp, SippResult
from tests.state_kit import drop_bindings
from tests.ws_agent import WsAgent

MEDIA_PORT_OFFSET = 10000
TAKEN_OUT_SECONDS = 3  # a pool member is out of the nodes' pick after one missed ping (1 s tick)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Not supervised: a node, rtpengine or Redis killed by a test stays down. Redis on
    base + 7, its replica on + 8, the sentinels the cluster puts on + 9..11; two rtpengines."""
    data = tmp_path_factory.mktemp("cluster")
    base = pick_port_base()
    c = Cluster(edge_environment(base, Path(data), EDGE_REDIS_PORT=str(base + 7),
                                 EDGE_RTPENGINE_NG=f"127.0.0.1:{base + 4}=1,127.0.0.1:{base + 3}=1",
                                 EDGE_RTPENGINE_HTTP=f"127.0.0.1:{base + 5},127.0.0.1:{base + 6}"), Path(data))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def state(cluster: Cluster) -> EdgeState:
    return EdgeState(connect(cluster.shared.settings.effective_redis_url))


@pytest.fixture(scope="module")
def sipps(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Sipp]]:
    """One sipp per node (its requests enter that node); their ports never overlap."""
    port = cluster.nodes[0].settings.sip_port
    made = [Sipp(f"{n.settings.sip_addr}:{port}", tmp_path_factory.mktemp(f"sipp{i}"), port_base=port + 20 + 400 * i)
            for i, n in enumerate(cluster.nodes)]
    yield made
    for s in made:
        s.stop_all()


@pytest.fixture(scope="module")
def centre(state: EdgeState, sipps: list[Sipp]) -> ContactCentre:
    """Org `cc`: carriers call the queue's DID into node 3."""
    return ContactCentre.provision(state, sipps[2])


def echo_phone(sipp: Sipp, port: int) -> subprocess.Popen[str]:
    """An agent's phone that answers one call and echoes its RTP."""
    proc = sipp.start("uas_echo.xml", [], port=port, values={"ring_ms": 200, "offer_check": ""}, extra=["-rtp_echo"])
    time.sleep(0.3)
    return proc


def cc_agent_on(sipp: Sipp, ext: str) -> int:
    """A contact-centre agent registered through the node `sipp` sends to; its phone's port."""
    port = sipp.next_port()
    assert register(sipp, ext, port, password=PASSWORD, domain=DOMAIN).ok
    return port


def relayed(cluster: Cluster) -> dict[int, int]:
    """RTP packets the live rtpengines received, per sending endpoint port."""
    out: dict[int, int] = {}
    for member in cluster.shared.settings.media_pool:
        if ping(member.ng, 0.3):
            for port, count in packets_from(member.ng).items():
                out[port] = out.get(port, 0) + count
    return out


def transferred(referred: SippResult, dialled: SippResult | None) -> None:
    """The customer's phone took the REFER and its new call to the Refer-To succeeded."""
    assert referred.ok, referred.output + referred.errors
    assert dialled is not None and dialled.ok, dialled.output + dialled.errors if dialled else ""


def ws_agent_on(node: Stack, state: EdgeState) -> WsAgent:
    """Agent 1002 registered over WebSocket on `node`, and nowhere else."""
    drop_bindings(state, "demo", "1002")
    agent = WsAgent(f"ws://{node.settings.sip_addr}:{node.settings.ws_port}", "1002", "demo.test", PASSWORDS["1002"])
    assert agent.register() == 200
    return agent


def test_every_node_has_a_heartbeat_and_knows_its_peers(cluster: Cluster, state: EdgeState) -> None:
    expected = sorted(n.settings.node_uri for n in cluster.nodes)
    alive = wait_for(lambda: (cards := state.nodes.alive()) and sorted(cards) == expected and cards, 5)
    assert alive, state.nodes.alive()
    assert all(card["draining"] is False for card in alive.values())


@pytest.mark.parametrize(("source", "signed_by", "reason"), [
    ("127.0.0.1", "shared", "Not A Peer Node"),  # a stranger holding a valid signature
    ("127.0.0.11", "a guess", "Bad Peer Signature"),  # a peer's address, a wrong signature
])
def test_a_handover_needs_a_peer_address_and_the_shared_secret(
    cluster: Cluster, source: str, signed_by: str, reason: str
) -> None:
    node = cluster.nodes[1]
    secret = node.settings.auth_secret if signed_by == "shared" else "not-the-secret"
    client = RawSip((node.settings.sip_addr, node.settings.sip_port), local_ip=source)
    try:
        target, call_id = f"sip:1002@{client.local[0]}:{client.local[1]}", "handover-probe-" + source
        peer = sign(secret, call_id, target, f"sip:{client.local[0]}:{client.local[1]};transport=udp", time.time())
        client.send(client.request("INVITE", target, "1001", "demo.test", call_id=call_id,
                                   extra=f"X-Edge-Peer: {peer.header_value()}\n"))
        answer = client.final(3)
    finally:
        client.close()
    assert answer is not None and (answer.status, answer.raw.split("\r\n", 1)[0]) == (403, f"SIP/2.0 403 {reason}")


def media_both_ways(cluster: Cluster, caller_sipp: Sipp, phone_sipp: Sipp, port: int) -> tuple[bool, dict[int, int]]:
    """1001 calls, through `caller_sipp`'s node, 1002's echoing phone on `port` (registered
    through `phone_sipp`'s node): did the live rtpengines relay 25 packets each way, and what
    they relayed. Both ends must finish cleanly."""
    phone = echo_phone(phone_sipp, port)
    caller_port = caller_sipp.next_port()
    caller = caller_sipp.start("uac_media.xml", [["1001", "demo.test", PASSWORDS["1001"], "1002"]], port=caller_port,
                               values={"steps": play() + pause(3000), "bye_cseq": 3},
                               extra=["-au", "1001", "-ap", PASSWORDS["1001"]])
    ends = (caller_port + MEDIA_PORT_OFFSET, port + MEDIA_PORT_OFFSET)
    both_ways = bool(wait_for(lambda: min(relayed(cluster).get(end, 0) for end in ends) >= 25, 8))
    seen = relayed(cluster)
    code, out = finish(caller)
    assert code == 0, out
    code, out = finish(phone)
    assert code == 0, out
    return both_ways, seen


def demo_agent_on(sipp: Sipp, state: EdgeState) -> int:
    """Demo agent 1002 registered through `sipp`'s node, and nowhere else; its phone's port."""
    drop_bindings(state, "demo", "1002")
    port = sipp.next_port()
    assert register(sipp, "1002", port).ok
    return port


def test_agent_on_node2_takes_a_call_entering_node1_with_media_both_ways(
    cluster: Cluster, sipps: list[Sipp], state: EdgeState
) -> None:
    port = demo_agent_on(sipps[1], state)
    (binding,) = state.registrations.bindings("demo", "1002")
    assert binding.node == cluster.nodes[1].settings.node_uri
    both_ways, seen = media_both_ways(cluster, sipps[0], sipps[1], port)
    assert both_ways, f"rtpengine did not relay both ways: {seen}"
    assert wait_for(lambda: [n.active_calls() for n in cluster.nodes] == [0, 0, 0], 5)


def test_ws_agent_on_node2_answers_a_call_from_node1_and_hangs_up(
    cluster: Cluster, sipps: list[Sipp], state: EdgeState
) -> None:
    agent = ws_agent_on(cluster.nodes[1], state)
    answered: list[str] = []

    def phone() -> None:
        answered.append(agent.answer_next_invite())
        answered.append(agent.answer_bye())

    thread = threading.Thread(target=phone, daemon=True)
    thread.start()
    result = call(sipps[0], "1001", "1002")
    thread.join(10)
    agent.ws.close()
    assert result.ok, result.output + result.errors
    assert len(answered) == 2 and answered[0] == answered[1]


def test_a_websocket_closing_on_node2_ends_the_call_node1_anchors(
    cluster: Cluster, sipps: list[Sipp], state: EdgeState
) -> None:
    agent = ws_agent_on(cluster.nodes[1], state)
    result = {}
    caller = threading.Thread(target=lambda: result.setdefault(
        "r", call(sipps[0], "1001", "1002", scenario="uac_hungup.xml")), daemon=True)
    caller.start()
    agent.answer_next_invite()
    time.sleep(0.5)
    assert wait_for(lambda: state.agents.presence("demo", ["1002"])[0].state == "in-call", 3)
    started = time.monotonic()
    agent.vanish()
    caller.join(15)
    assert "r" in result, "the caller on node 1 was never hung up on"
    assert result["r"].ok, result["r"].output + result["r"].errors
    assert time.monotonic() - started < 5
    assert wait_for(lambda: state.agents.presence("demo", ["1002"])[0].state == "offline", 5)
    # Node 2 tracked the call it delivered (so a drain waits for it): its dialog is over too.
    assert wait_for(lambda: cluster.nodes[1].active_calls() == 0, 5)


def test_a_carrier_call_entering_node3_is_offered_to_the_agent_on_node2_with_media_both_ways(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    centre.reset()
    port = cc_agent_on(sipps[1], "3001")
    phone = echo_phone(sipps[1], port)
    found: dict[str, bool] = {}
    customer_media = centre.customer_ports[0] + MEDIA_PORT_OFFSET
    watcher = threading.Thread(target=lambda: found.setdefault("both", bool(wait_for(
        lambda: min(relayed(cluster).get(customer_media, 0), relayed(cluster).get(port + MEDIA_PORT_OFFSET, 0))
        >= 25, 10))))
    watcher.start()
    result = centre.customer(steps=play(), hold_ms=3000)
    watcher.join(15)
    assert result.ok, result.output + result.errors
    code, out = finish(phone)
    assert code == 0, out
    assert found.get("both"), "rtpengine did not relay both ways"
    att = centre.last_attendance("3001")
    assert ("answer", "3001", "") in centre.story(att)


def test_agent_on_node2_transfers_a_call_anchored_on_node3_to_an_agent_on_node1(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    """The REFER passes node 2 untouched to node 3, which rewrites it; the customer's new call
    enters node 3 again and is handed over to node 1, where 3002 is registered."""
    centre.reset()
    agent_port, target_port = cc_agent_on(sipps[1], "3001"), cc_agent_on(sipps[0], "3002")
    centre.pause("3002")  # the queue offers to 3001; 3002 only takes the transfer
    agent = answer_one(sipps[1], agent_port, "agent_refer.xml", refer_to=f"sip:3002@{DOMAIN}", **REFER_OK)
    target = answer_one(sipps[0], target_port)
    transferred(*centre.transferred_customer())
    assert finish(agent)[0] == 0 and finish(target)[0] == 0
    story = centre.story(centre.last_attendance("3001"))
    assert ("transfer", "3002", "requested") in story and ("answer", "3002", "") in story


def test_attended_transfer_across_three_nodes_replaces_the_consultation(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    """The customer's call enters node 3; 3001 (node 2) consults 3002 (node 1) through node 2,
    then REFERs the customer with Replaces: the customer's new call reaches 3002 carrying it."""
    centre.reset()
    agent_port, target_port = cc_agent_on(sipps[1], "3001"), cc_agent_on(sipps[0], "3002")
    centre.pause("3002")
    trace = sipps[0].workdir / f"target-{time.monotonic_ns()}.log"
    target = sipps[0].start("uas.xml", [], port=target_port, calls=2,
                            extra=["-trace_msg", "-message_file", str(trace)])
    consult = sipps[1].start("uac_call.xml", [["3001", DOMAIN, PASSWORD, "3002"]], port=sipps[1].next_port(),
                             values={"delay_ms": 1500, "hold_ms": 5000}, extra=["-au", "3001", "-ap", PASSWORD])
    replaces = f"1-{consult.pid}@127.0.0.1;to-tag={target.pid}u1;from-tag=1c{consult.pid}"
    refer_to = f"sip:3002@{DOMAIN}?Replaces={quote(replaces, safe='')}"
    agent = answer_one(sipps[1], agent_port, "agent_refer.xml", refer_to=refer_to, refer_status=202, hold_ms=3000)
    transferred(*centre.transferred_customer())
    for phone in (agent, consult, target):
        assert finish(phone)[0] == 0
    assert f"Replaces: {replaces}" in trace.read_text()
    assert ("transfer", "3002", "replaces") in centre.story(centre.last_attendance("3001"))


def test_interorg_transfer_by_refer_from_an_agent_on_another_node(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    centre.reset()
    port = cc_agent_on(sipps[1], "3001")
    agent = answer_one(sipps[1], port, "agent_refer.xml", refer_to=f"sip:ivr@{DEST_DOMAIN}", **REFER_OK)
    ivr = answer_one(sipps[2], centre.dest_ivr_port, "uas_headers.xml", header_regexp="X-Edge-Attendance: att-")
    transferred(*centre.transferred_customer())
    assert finish(agent)[0] == 0 and finish(ivr)[0] == 0
    record = centre.state.history.attendance(centre.last_attendance("3001"))
    assert record is not None and record.interorg_transferred


def test_second_interorg_transfer_is_refused_on_any_node(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    """The customer enters node 3; the agent is on node 2; the API of node 1 transfers (it finds
    node 3, which holds the call); a second attempt is refused by every node."""
    centre.reset()
    port = cc_agent_on(sipps[1], "3001")
    agent = answer_one(sipps[1], port, "uas.xml", hold_ms=0)
    ivr = answer_one(sipps[2], centre.dest_ivr_port)
    outcome: list = []
    started = time.time()
    customer = threading.Thread(target=lambda: outcome.extend(
        centre.transferred_customer(scenario="customer_refer_notify.xml", frag="SIP/2.0 200 OK")))
    customer.start()
    att = wait_for(lambda: next((a for a in centre.state.history.recent_attendances("cc", "3001")
                                 if centre.state.history.attendance(a).created_at >= started
                                 and ("answer", "3001", "") in centre.story(a)), ""))
    assert att, "the queue call was never answered"
    time.sleep(0.5)
    status, body = api(cluster.nodes[0], "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})
    assert status == 202, body
    customer.join(30)
    transferred(*outcome)
    for phone in (ivr, agent):
        code, out = finish(phone)
        assert code == 0, out
    for node in cluster.nodes:
        status, body = api(node, "POST", f"/v1/calls/{att}/transfer-org", {"org": "dest"})
        assert (status, body.get("rule")) == (403, "already-transferred"), (node.settings.node_uri, body)


def test_draining_node_refuses_new_work_with_retry_after(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp]
) -> None:
    node = cluster.nodes[2]
    address = (node.settings.sip_addr, node.settings.sip_port)
    assert options(address).status == 200
    node.kamcmd("htable.seti", "node", "draining", "1")
    try:
        # Load balancers' probes and carriers see it at once and go to another node.
        probe = options(address)
        assert (probe.status, probe.header("Retry-After")) == (503, "30")
        refused = carrier_invite(address, centre.customer_ports[0], DID)
        assert (refused.status, refused.reason, refused.header("Retry-After")) == (503, "Node Draining", "30")
        assert node.active_calls() == 0
    finally:
        node.kamcmd("htable.delete", "node", "draining")
    assert options(address).status == 200


def test_a_node_draining_waits_for_the_call_it_delivers(cluster: Cluster, sipps: list[Sipp], state: EdgeState) -> None:
    drop_bindings(state, "demo", "1002")
    port = sipps[1].next_port()
    assert register(sipps[1], "1002", port).ok
    phone = answer_one(sipps[1], port)
    result = {}
    caller = threading.Thread(target=lambda: result.setdefault("r", call(sipps[0], "1001", "1002", hold_ms=3000)))
    caller.start()
    node = cluster.nodes[1]
    try:
        assert wait_for(lambda: node.active_calls() == 1, 5)
        assert node.drain(0.5) == 1  # the limit: the call is still up when it ends
        started = time.monotonic()
        assert node.drain(10) == 0  # the call ended by itself
        assert time.monotonic() - started > 1
    finally:
        node.kamcmd("htable.delete", "node", "draining")
    caller.join(10)
    assert result["r"].ok, result["r"].output + result["r"].errors
    assert finish(phone)[0] == 0


def test_one_rtpengine_killed_new_calls_through_every_node_get_media_through_the_other(
    cluster: Cluster, sipps: list[Sipp], state: EdgeState
) -> None:
    port = demo_agent_on(sipps[1], state)
    members = [m.ng for m in cluster.shared.settings.media_pool]
    assert len(members) == 2 and all(ping(ng, 0.3) for ng in members)
    dead = cluster.shared.procs["rtpengine"]
    os.kill(dead.pid, signal.SIGKILL)  # the pool's first member, started by this test's cluster
    dead.wait(5)
    time.sleep(TAKEN_OUT_SECONDS)
    (survivor,) = [ng for ng in members if ping(ng, 0.3)]
    # Four calls: with equal weights, about half would have picked the dead instance.
    for entry in (0, 1, 2, 0):
        both_ways, seen = media_both_ways(cluster, sipps[entry], sipps[1], port)
        assert both_ways, f"a call entering node {entry + 1}: no media both ways through {survivor}: {seen}"


def test_redis_primary_killed_calls_through_every_node_work_again_and_registrations_stay(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp], state: EdgeState
) -> None:
    shared, s = cluster.shared, cluster.shared.settings
    centre.reset()
    port = cc_agent_on(sipps[1], "3001")  # registered before the kill: must survive it
    demo_port = demo_agent_on(sipps[2], state)
    replica = s.redis_port + 1
    assert (role(shared, s.redis_port), role(shared, replica)) == ("master", "slave")
    os.kill(shared.procs["redis"].pid, signal.SIGKILL)
    killed = time.monotonic()
    assert wait_for(lambda: role(shared, replica) == "master", PROMOTION_SECONDS), "the replica was never promoted"
    promoted = time.monotonic()
    for i in range(len(cluster.nodes)):
        took = recovery_seconds(sipps[i], port, promoted, phone_sipp=sipps[1])
        assert took < SERVE_AGAIN_SECONDS, (f"no call entering node {i + 1} went through within {SERVE_AGAIN_SECONDS}s"
                                            f" of the promotion ({promoted - killed:.1f}s after the kill)")
    assert state.registrations.bindings("cc", "3001"), "3001's registration was lost"
    (binding,) = state.registrations.bindings("demo", "1002")
    assert binding.node == cluster.nodes[2].settings.node_uri, "1002's registration was lost"
    # 1002, registered on node 3 before the kill, takes a call entering node 1, with media.
    both_ways, seen = media_both_ways(cluster, sipps[0], sipps[2], demo_port)
    assert both_ways, f"no media both ways after the failover: {seen}"


def test_killed_node_agents_go_offline_then_take_calls_on_another_node(
    cluster: Cluster, centre: ContactCentre, sipps: list[Sipp], state: EdgeState
) -> None:
    centre.reset()
    port = cc_agent_on(sipps[1], "3001")
    assert state.agents.presence("cc", ["3001"])[0].state == "available"
    # A call the node anchored when it died: no dialog event will ever end its record.
    dead = cluster.nodes[1].settings.node_uri
    state.r.sadd(keys.node_calls(dead), "cc|3001|lost-call")
    state.r.hset(keys.calls("cc", "3001"), "lost-call", str(time.time()))
    assert state.agents.presence("cc", ["3001"])[0].state == "in-call"
    killed = time.monotonic()
    os.killpg(cluster.nodes[1].procs["kamailio"].pid, signal.SIGKILL)
    offline = wait_for(lambda: state.agents.presence("cc", ["3001"])[0].state == "offline", HEARTBEAT_TTL + 10)
    assert offline, "the dead node's agent is still online or in-call"
    assert time.monotonic() - killed <= HEARTBEAT_TTL + 10
    assert dead not in state.r.hkeys(keys.NODES) and not state.r.exists(keys.node_calls(dead))
    # Nobody reachable: the queue does not ring the dead node's agent.
    assert centre.customer("customer_refused.xml", expect=480).ok
    # Registered again on node 1, the agent takes the next queue call at once.
    port = cc_agent_on(sipps[0], "3001")
    phone = answer_one(sipps[0], port)
    result = centre.customer()
    assert result.ok, result.output + result.errors
    assert finish(phone)[0] == 0
