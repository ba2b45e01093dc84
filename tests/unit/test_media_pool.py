"""The rtpengine pool: parsing EDGE_RTPENGINE_NG, choosing a call's instance, and the health
transitions of the pool's tick."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeops.stack import port_share
from kemi_app.policy.media_pool import (
    DEAD_AFTER_MISSES,
    Health,
    MediaInstance,
    PoolError,
    after_ping,
    choose,
    made_here,
    node_label,
    parse_pool,
    preference,
)

A, B, C = MediaInstance("10.0.0.1:2223"), MediaInstance("10.0.0.2:2223", 3), MediaInstance("10.0.0.3:2223")


def test_pool_parses_addresses_and_weights_in_order() -> None:
    assert parse_pool("10.0.0.1:2223, 10.0.0.2:2223=3") == (A, B)
    assert parse_pool("127.0.0.1:2223") == (MediaInstance("127.0.0.1:2223"),)


@pytest.mark.parametrize("text", ["", "nohost", "10.0.0.1:2223=0", "10.0.0.1:2223=x",
                                  "10.0.0.1:2223,10.0.0.1:2223", ",".join(f"h:{p}" for p in range(5))])
def test_bad_pools_are_refused(text: str) -> None:
    with pytest.raises(PoolError):
        parse_pool(text)


def test_calls_spread_by_weight() -> None:
    pool = (A, B)
    on_b = sum(choose(f"call-{n}@example", pool, ()) == 1 for n in range(4000))
    assert 0.70 < on_b / 4000 < 0.80  # weight 3 of 4


@given(st.text(min_size=1, max_size=40))
def test_every_node_picks_the_same_instance_and_only_a_dead_choice_moves_a_call(call_id: str) -> None:
    pool = (A, B, C)
    first = choose(call_id, pool, ())
    assert first == preference(call_id, pool)[0] == choose(call_id, (A, B, C), ())
    others = [i for i in range(3) if i != first]
    assert choose(call_id, pool, others) == first  # others going down does not move it
    assert choose(call_id, pool, [first]) == preference(call_id, pool)[1]
    assert choose(call_id, pool, range(3)) is None


def test_a_missed_ping_takes_an_instance_out_and_three_make_it_dead_once() -> None:
    health, changes = Health(0, 1000.0), []
    for _ in range(DEAD_AFTER_MISSES + 2):
        change = after_ping(health, None)
        health = change.health
        changes.append((change.take_out, change.dead))
    assert changes == [(True, False), (False, False), (False, True), (False, False), (False, False)]
    back = after_ping(health, 1010.0)  # restarted, but its calls were already ended and reported
    assert back.put_back and not back.dead and back.health == Health(0, 1010.0)
    assert not after_ping(Health(0, 1000.0), 1000.5).put_back


def test_a_restart_between_pings_is_a_death_of_its_calls() -> None:
    assert after_ping(Health(0, 1000.0), 1002.0).dead
    assert after_ping(Health(1, 1000.0), 1001.5).dead  # died and came back before three misses
    # The same process: its estimated start moves by under a second from answer to answer.
    same = after_ping(Health(0, 1000.3), 1000.9)
    assert not same.dead and same.health.started == 1000.3
    assert not after_ping(Health(), 1000.0).dead  # first answer ever


def test_rtp_ports_are_shared_out_without_overlap() -> None:
    assert [port_share(30000, 34999, 2, i) for i in range(2)] == [(30000, 32499), (32500, 34999)]
    assert [port_share(30000, 30010, 3, i) for i in range(3)] == [(30000, 30002), (30003, 30005), (30006, 30010)]
    assert port_share(30000, 34999, 1, 0) == (30000, 34999)


def test_a_node_reconciles_only_sessions_it_made() -> None:
    mine = node_label("sip:127.0.0.11:5060")
    assert mine == "edge-127.0.0.11:5060"
    assert made_here([mine], mine) and made_here([], mine) and made_here(["supervisor"], mine)
    assert not made_here([node_label("sip:127.0.0.12:5060")], mine)
