"""Redis behind Sentinel (EDGE_REDIS_HA=1: primary, replica, three sentinels started by the
launcher): the Redis primary is killed (SIGKILL, by the PID this test's stack started) during a
steady call load. The sentinels promote the replica, the edge serves new calls again within
10 s of the promotion, a call in progress goes on to its BYE, and registrations made before
the kill are still there.

The stack runs unsupervised here: a supervisor would restart the dead primary within a second,
before the sentinels declare it down, and no failover would be tested."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from edgeops import redisha
from edgeops.stack import Stack
from kemi_app.state import EdgeState, connect
from tests.conftest import edge_environment, pick_port_base, sipp_peers, unsupervised
from tests.integration import sip_probe
from tests.integration.contact_centre import DID, ORG, ContactCentre
from tests.integration.helpers import answer_one, call, finish, register
from tests.integration.test_outages import call_load, recovery_seconds, stopped, target
from tests.sipp import Sipp, SippResult

SERVE_AGAIN_SECONDS = 10
PROMOTION_SECONDS = 15


@pytest.fixture(scope="module")
def ha_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = pick_port_base()
    env = edge_environment(base, tmp_path_factory.mktemp("redis-ha"), EDGE_REDIS_HA="1",
                           EDGE_REDIS_PORT=str(base + 7),  # the replica takes base + 8
                           EDGE_REDIS_SENTINELS=",".join(f"127.0.0.1:{base + p}" for p in (9, 10, 11)))
    with unsupervised(env) as stack:
        yield stack


@pytest.fixture(scope="module")
def ha_sipp(ha_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    with sipp_peers(ha_stack, tmp_path_factory.mktemp("redis-ha-sipp")) as s:
        yield s


@pytest.fixture(scope="module")
def ha_state(ha_stack: Stack) -> EdgeState:
    return EdgeState(connect(ha_stack.settings.effective_redis_url))


def role(stack: Stack, port: int) -> str:
    client = redis.Redis("127.0.0.1", port, password=stack.settings.redis_password, socket_timeout=0.5)
    try:
        return str(client.info("replication").get("role", ""))
    except redis.RedisError:
        return "down"
    finally:
        client.close()


def test_configs_are_private_and_the_edge_goes_through_the_sentinels(ha_stack: Stack) -> None:
    run = ha_stack.data_dir / "run"
    for name in ("redis", "redis-replica", "sentinel1", "sentinel2", "sentinel3"):
        assert stat.S_IMODE((run / f"{name}.conf").stat().st_mode) == 0o600, name
    assert ha_stack.settings.effective_redis_url.startswith("redis-sentinel://")
    # Password protected: neither a data node nor a sentinel answers without it.
    for port in (ha_stack.settings.redis_port, ha_stack.settings.sentinel_addresses[0][1]):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis("127.0.0.1", port, socket_timeout=0.5).ping()


def test_primary_killed_under_load_new_calls_within_10s_and_registrations_kept(
        ha_stack: Stack, ha_sipp: Sipp, ha_state: EdgeState) -> None:
    s = ha_stack.settings
    cc = ContactCentre.provision(ha_state, ha_sipp)
    port = cc.login("3001")  # registered before the kill: must survive it
    early = ha_sipp.next_port()
    assert register(ha_sipp, "1001", early).ok
    replica = s.redis_port + 1
    assert (role(ha_stack, s.redis_port), role(ha_stack, replica)) == ("master", "slave")
    # A call in progress across the failover: its BYE comes about 5 s after the kill.
    phone = answer_one(ha_sipp, early)
    ongoing: dict[str, SippResult] = {}
    caller = threading.Thread(target=lambda: ongoing.setdefault(
        "r", call(ha_sipp, "1002", "1001", hold_ms=6000)), daemon=True)
    with call_load(ha_stack, ha_sipp, seconds=30):
        caller.start()
        time.sleep(2)
        os.kill(ha_stack.procs["redis"].pid, signal.SIGKILL)
        killed = time.monotonic()
        while role(ha_stack, replica) != "master" and time.monotonic() - killed < PROMOTION_SECONDS:
            time.sleep(0.1)
        promoted = time.monotonic()
        assert role(ha_stack, replica) == "master", "the sentinels never promoted the replica"
        took = recovery_seconds(ha_sipp, port, promoted)
        assert took < SERVE_AGAIN_SECONDS, f"no call went through within {SERVE_AGAIN_SECONDS}s of the promotion"
        caller.join(15)
    assert "r" in ongoing and ongoing["r"].ok, ongoing
    assert finish(phone)[0] == 0
    assert ha_state.registrations.bindings(ORG, "3001"), "3001's registration was lost"
    assert ha_state.registrations.bindings("demo", "1001"), "1001's registration was lost"
    assert ha_state.directory.get_agent(ORG, "3003") is not None, "provisioning was lost"


def test_the_old_primary_restarted_comes_back_as_the_new_primarys_replica(ha_stack: Stack, ha_state: EdgeState) -> None:
    """What the supervisor does after the failover above: the restarted node asks the
    sentinels who the primary is now, instead of starting as a second primary."""
    s = ha_stack.settings
    assert role(ha_stack, s.redis_port + 1) == "master", "run after the failover test"
    ha_stack._launch("redis")  # spawned and waited for, as Stack.poll restarts a dead component
    assert role(ha_stack, s.redis_port) == "slave"
    assert redisha.current_primary(s) == ("127.0.0.1", s.redis_port + 1)
    assert ha_state.registrations.bindings(ORG, "3001"), "the resync lost data"


def test_the_breaker_still_answers_503_fast_when_the_whole_group_stalls(ha_stack: Stack, ha_sipp: Sipp,
                                                                         ha_state: EdgeState) -> None:
    """Behind Sentinel the workers' breaker works as with one Redis (test_outages.py): every
    data node and sentinel stopped (SIGSTOP) under load, a carrier call is refused at once
    with 503 and Retry-After, and calls work again once the group is back."""
    cc = ContactCentre.provision(ha_state, ha_sipp)
    port = cc.login("3001")
    with call_load(ha_stack, ha_sipp):
        time.sleep(1)
        with stopped(ha_stack, *ha_stack.redis_nodes()):
            time.sleep(1.5)  # the load has opened the workers' breakers by now
            probe = sip_probe.carrier_invite(target(ha_stack), cc.customer_ports[0], DID)
        resumed = time.monotonic()
        assert (probe.status, probe.reason) == (503, "State Store Unavailable"), probe
        assert probe.seconds < 1.0, probe
        assert 1 <= int(probe.header("Retry-After") or 0) <= 5, probe
        # The sentinels may fail over once they run again: allow for a promotion.
        assert recovery_seconds(ha_sipp, port, resumed) < SERVE_AGAIN_SECONDS
