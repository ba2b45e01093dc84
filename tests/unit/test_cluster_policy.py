"""Several nodes as one: node liveness, the signed hand-over (policy.cluster), where the API forwards."""

from __future__ import annotations

from kemi_app.admin.calls_api import peer_admin
from kemi_app.policy import cluster, dialog_token
from kemi_app.policy.registration import Binding

SECRET = "s3cret-shared-by-nodes"
NOW = 1_700_000_000.0
CONTACT = "sip:a1b2@c3d4.invalid;transport=ws"
WS = "sip:127.0.0.1:40001;transport=ws"


def _binding(node: str, expires_at: float = NOW + 300) -> Binding:
    return Binding(contact=f"sip:1002@{node[4:]}", received="sip:127.0.0.1:5;transport=udp",
                   socket="udp:127.0.0.12:5060", node=node, expires_at=expires_at, call_id="c", cseq=1)


def test_bindings_on_a_node_whose_heartbeat_lapsed_are_not_used() -> None:
    alive, dead, unknown = _binding("sip:127.0.0.11:5060"), _binding("sip:127.0.0.12:5060"), _binding("sip:x:1")
    nodes = {"sip:127.0.0.11:5060": cluster.heartbeat_value(NOW - 5),
             "sip:127.0.0.12:5060": cluster.heartbeat_value(NOW - cluster.HEARTBEAT_TTL - 1)}
    assert cluster.reachable([alive, dead, unknown], nodes, NOW) == [alive]
    assert cluster.reachable([_binding("sip:127.0.0.11:5060", NOW - 1)], nodes, NOW) == []


def test_a_garbled_heartbeat_counts_as_dead() -> None:
    assert cluster.alive_until({"n": "soon"}, "n") == 0.0


def test_destination_survives_the_header_encoding() -> None:
    assert cluster.encode_destination(WS) == "127.0.0.1~40001~ws"
    assert cluster.decode_destination("127.0.0.1~40001~ws") == WS
    assert cluster.decode_destination("127.0.0.1~5060~udp") == "sip:127.0.0.1:5060;transport=udp"
    assert cluster.encode_destination("sip:10.0.0.1:5060") == "10.0.0.1~5060~udp"
    for bad in ("", "1.2.3.4~x~udp", "1.2.3.4~5~u;dp", "~5~udp", "a~b"):
        assert cluster.decode_destination(bad) is None


def test_a_signed_handover_is_checked_against_call_id_target_and_time() -> None:
    header = cluster.sign(SECRET, "call-1", CONTACT, WS, NOW).header_value()
    handover = cluster.verify(SECRET, "call-1", CONTACT, header, NOW + 1)
    assert handover is not None and handover.destination == WS
    assert cluster.verify(SECRET, "call-2", CONTACT, header, NOW) is None
    assert cluster.verify(SECRET, "call-1", "sip:other@x.invalid", header, NOW) is None
    assert cluster.verify("another-secret", "call-1", CONTACT, header, NOW) is None
    assert cluster.verify(SECRET, "call-1", CONTACT, header, NOW + cluster.HANDOVER_LIFETIME + 1) is None


def test_the_destination_cannot_be_changed_under_the_signature() -> None:
    expires, _, signature = cluster.sign(SECRET, "call-1", CONTACT, WS, NOW).header_value().split(";")
    assert cluster.verify(SECRET, "call-1", CONTACT, f"{expires};10.9.9.9~5060~udp;{signature}", NOW) is None
    for junk in ("", "1;2", "x;127.0.0.1~1~ws;ab", f"{expires};127.0.0.1~1~ws;"):
        assert cluster.verify(SECRET, "call-1", CONTACT, junk, NOW) is None


def test_peer_list_accepts_uris_and_default_port() -> None:
    assert cluster.peer_addresses(" sip:127.0.0.12:5060, 127.0.0.13 ,,") == {"127.0.0.12:5060", "127.0.0.13:5060"}


def test_a_handover_record_route_is_signed_with_its_flag() -> None:
    params = dialog_token.record_route_params(SECRET, "call-1", NOW, handover=True)
    route = f"<sip:127.0.0.12:5060;lr{params}>"
    assert dialog_token.valid(SECRET, "call-1", route, NOW) and dialog_token.handed_over(route)
    # The flag cannot be added to, or taken off, a plain Record-Route.
    plain = f"<sip:127.0.0.12:5060;lr{dialog_token.record_route_params(SECRET, 'call-1', NOW)}>"
    assert not dialog_token.handed_over(plain)
    assert not dialog_token.valid(SECRET, "call-1", plain.replace(";lr", ";lr;eh=1"), NOW)
    assert not dialog_token.valid(SECRET, "call-1", route.replace(";eh=1", ""), NOW)


def test_the_api_token_is_forwarded_only_to_a_configured_peer_on_its_own_host() -> None:
    peers = frozenset({"127.0.0.12:5060"})
    card = {"admin": "http://127.0.0.12:9090"}
    assert peer_admin("sip:127.0.0.12:5060", card, peers) == "http://127.0.0.12:9090"
    assert peer_admin("sip:127.0.0.13:5060", {"admin": "http://127.0.0.13:9090"}, peers) is None  # not a peer
    assert peer_admin("sip:127.0.0.12:5060", {"admin": "http://198.51.100.7:9090"}, peers) is None
    assert peer_admin("sip:127.0.0.12:5060", {}, peers) is None
