"""Process faults under a steady call load, on an edge supervised like `./edge run`.

Each test kills one component with SIGKILL while sipp places 1001 -> 1002 calls (haproxy,
which carries none of them, without load), and checks what the launcher guarantees: the
other components keep their PIDs, the dead one is restarted, a new call succeeds within 5 s
of it being ready again, 1002's registration survives (Redis keeps bindings in its AOF), and
no rtpengine session is left once the load ends. What Kamailio answers while a dependency is
down is not asserted here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from edgeops.ports import free_port_block
from edgeops.stack import Stack, tcp_open
from kemi_app.rtpengine_ng import command
from kemi_app.state import EdgeState, connect
from tests.conftest import edge_environment, pick_port_base
from tests.integration.helpers import DEMO, PASSWORDS, register
from tests.integration.rtp import call_ids, sessions, wait_for
from tests.sipp import Sipp

RECOVERY_SECONDS = 5.0
LOAD_RATE = 3  # calls/s
LOAD_CALLS = 36  # about 12 s of load
CALLER = [["1001", DEMO, PASSWORDS["1001"], "1002"]]
AUTH = ["-au", "1001", "-ap", PASSWORDS["1001"]]


@pytest.fixture(scope="module")
def fault_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An edge of its own: killing its parts must not disturb the session's edge."""
    env = edge_environment(pick_port_base(), tmp_path_factory.mktemp("fault-edge"),
                           EDGE_AUTH_MAX_FAILURES="1000")
    with Stack(env, log_to_files=True).running() as stack:
        yield stack


@pytest.fixture(scope="module")
def fault_sipp(fault_edge: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    s = fault_edge.settings
    sipp = Sipp(f"127.0.0.1:{s.sip_port}", tmp_path_factory.mktemp("fault-sipp"), port_base=s.sip_port + 20)
    yield sipp
    sipp.stop_all()


@pytest.fixture(scope="module")
def phone_port(fault_sipp: Sipp) -> int:
    """1002 registers once for the whole module, from the port its phone answers on."""
    port = fault_sipp.next_port()
    result = register(fault_sipp, "1002", port, expires=600)
    assert result.ok, result.output + result.errors
    time.sleep(1.5)  # past Redis' once-a-second AOF fsync
    return port


@pytest.fixture
def phone(fault_sipp: Sipp, phone_port: int) -> Iterator[subprocess.Popen[str]]:
    """1002's phone, answering every call of one test."""
    proc = fault_sipp.start("uas.xml", [], port=phone_port, calls=100000, extra=["-timeout", "55s"])
    time.sleep(0.3)
    yield proc
    proc.kill()
    proc.communicate(timeout=5)


def probe(sipp: Sipp) -> bool:
    """One short call 1001 -> 1002, given up quickly when unanswered."""
    return sipp.run("uac_call.xml", CALLER, values={"hold_ms": 100},
                    extra=[*AUTH, "-recv_timeout", "3000", "-timeout", "8s"]).ok


def start_load(sipp: Sipp) -> subprocess.Popen[str]:
    return sipp.start("uac_call.xml", CALLER, port=sipp.next_port(), calls=LOAD_CALLS, values={"hold_ms": 1000},
                      extra=[*AUTH, "-r", str(LOAD_RATE), "-l", "10", "-recv_timeout", "5000", "-timeout", "40s"])


def kill_and_recover(edge: Stack, sipp: Sipp, name: str) -> list[str]:
    """Kills `name` under load; asserts restart, recovery and untouched neighbours. Returns the
    Call-IDs rtpengine still holds 10 s after the load ended."""
    assert probe(sipp), "the edge does not carry calls before the fault"
    load = start_load(sipp)
    time.sleep(3)
    before = {n: p.pid for n, p in edge.procs.items()}
    os.kill(before[name], signal.SIGKILL)
    restarted = wait_for(lambda: edge.procs[name].pid != before[name] and edge.ready(name), timeout=20, step=0.05)
    ready_at = time.monotonic()
    assert restarted, f"{name} was not restarted; see {edge.data_dir / 'logs'}"
    while not (ok := probe(sipp)) and time.monotonic() < ready_at + RECOVERY_SECONDS:
        pass
    assert ok, f"no call placed within {RECOVERY_SECONDS:.0f} s of {name} being back succeeded"
    after = {n: p.pid for n, p in edge.procs.items()}
    assert {n: pid for n, pid in after.items() if n != name} == {n: pid for n, pid in before.items() if n != name}
    assert all(p.poll() is None for p in edge.procs.values())
    log = (edge.data_dir / "logs" / "supervisor.log").read_text()
    assert f"{name} (pid {before[name]}) died" in log and f"{name} is back (pid {after[name]})" in log, log
    load.communicate(timeout=45)
    ng = edge.settings.rtpengine_ng
    wait_for(lambda: sessions(ng) == 0, 10)
    return call_ids(ng)


def test_redis_killed_is_restarted_and_keeps_registrations(fault_edge: Stack, fault_sipp: Sipp, phone) -> None:
    assert kill_and_recover(fault_edge, fault_sipp, "redis") == []
    state = EdgeState(connect(fault_edge.settings.effective_redis_url))
    assert state.r.hlen("edge:bindings:demo:1002") == 1  # 1002 never registered again: the AOF kept it


@contextmanager
def redis_server(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        yield server
    finally:
        server.kill()
        server.wait(10)


def test_redis_is_ready_only_once_it_has_loaded_its_data(tmp_path: Path) -> None:
    """An open port is not enough: a loading Redis answers LOADING (BusyLoadingError)."""
    port = free_port_block(29000, 29900, 1, 1)
    stack = Stack(edge_environment(port - 3, tmp_path, EDGE_REDIS_PASSWORD="loading-test"))
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", "",
            "--appendonly", "no", "--requirepass", "loading-test"]  # a throwaway password
    client = redis.Redis.from_url(stack.settings.effective_redis_url)
    with redis_server(argv) as server:
        assert wait_for(lambda: stack.ready("redis"), 10)
        client.mset({f"k{i}": "x" * 3000 for i in range(400)})
        client.shutdown(save=True)
        server.wait(10)
    # 10 ms per key, with clients served in between: about 4 s of loading:1.
    with redis_server([*argv, "--key-load-delay", "10000", "--loading-process-events-interval-bytes", "1024"]):
        assert wait_for(lambda: tcp_open("127.0.0.1", port), 10)
        with pytest.raises(redis.BusyLoadingError):
            client.get("k1")
        assert not stack.ready("redis")
        assert wait_for(lambda: stack.ready("redis"), 15)
        assert client.dbsize() == 400


def test_rtpengine_killed_is_restarted(fault_edge: Stack, fault_sipp: Sipp, phone) -> None:
    assert kill_and_recover(fault_edge, fault_sipp, "rtpengine") == []


def test_kamailio_killed_is_restarted(fault_edge: Stack, fault_sipp: Sipp, phone) -> None:
    left = kill_and_recover(fault_edge, fault_sipp, "kamailio")  # orphaned workers would hold the SIP port
    assert fault_edge.health()[0] == 200
    if left:
        for call_id in left:  # rtpengine would hold them 60 s more (no media): not into the next test
            command(fault_edge.settings.rtpengine_ng, {"command": "delete", "call-id": call_id})
        pytest.xfail(f"{len(left)} rtpengine sessions of calls the killed Kamailio carried outlive their BYE: "
                     "media sessions are deleted on dialog events, and the new Kamailio has no dialog for them")


def test_haproxy_killed_is_restarted(fault_edge: Stack) -> None:
    before = {n: p.pid for n, p in fault_edge.procs.items()}
    os.kill(before["haproxy"], signal.SIGKILL)
    assert wait_for(lambda: fault_edge.procs["haproxy"].pid != before["haproxy"] and fault_edge.ready("haproxy"), 20)
    assert {n: p.pid for n, p in fault_edge.procs.items() if n != "haproxy"} == \
        {n: pid for n, pid in before.items() if n != "haproxy"}
