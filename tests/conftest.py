"""Integration fixtures: a real edge (Redis, rtpengine, Kamailio) on its own test ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeops.ports import free_port_block  # noqa: E402
from edgeops.stack import Stack  # noqa: E402
from kemi_app.state import EdgeState, connect  # noqa: E402
from kemi_app.state.attendance import Writes  # noqa: E402
from tests.sipp import Sipp  # noqa: E402

pytest_plugins = ["tests.reruns"]

API_TOKEN = "test-token-not-secret"
REAL_PARTS = ("integration", "browser")  # tests that start real Kamailio, rtpengine, Redis, sipp, Chromium


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test of real parts that fails is run once more (pytest-rerunfailures) and fails only
    if it fails again: on a shared 2-core box a worker stalled by another process can reorder
    two packets or outlast a wait. The run ends by listing every rerun with why its first try
    failed (tests/reruns.py), so a flaky test stays visible and can be fixed."""
    for item in items:
        if any(part in REAL_PARTS for part in item.path.relative_to(ROOT / "tests").parts[:1]):
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


def pick_port_base() -> int:
    """A block of free ports, so a test run never collides with a running edge or another run."""
    return free_port_block(20000, 29000, 10, 12)


def edge_environment(base: int, data: Path, **overrides: str) -> dict[str, str]:
    """The environment of a test edge on the free port block `base` (see pick_port_base)."""
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": "",
            "EDGE_SIP_PORT": str(base),
            "EDGE_WS_PORT": str(base + 1),
            "EDGE_ADMIN_PORT": str(base + 2),
            "EDGE_REDIS_PORT": str(base + 3),
            "EDGE_RTPENGINE_NG": f"127.0.0.1:{base + 4}",
            "EDGE_RTPENGINE_HTTP": f"127.0.0.1:{base + 5}",
            "EDGE_WSS_PORT": str(base + 6),
            "EDGE_RTP_PORT_MIN": str(base + 40000 - 20000 + 100),
            "EDGE_RTP_PORT_MAX": str(base + 40000 - 20000 + 1099),
            "EDGE_DATA_DIR": str(data),
            "EDGE_CHILDREN": "2",
            "EDGE_SHM_MB": "128",
            "EDGE_AUTH_MAX_FAILURES": "3",
            "EDGE_GATEWAY_TIMEOUT_MS": "2000",
            "EDGE_API_TOKEN": API_TOKEN,
            "EDGE_LOG_LEVEL": "3",
            **overrides,
        }
    )
    return env


@contextmanager
def unsupervised(env: dict[str, str]) -> Iterator[Stack]:
    """A stack nobody restarts: a test that kills a component by its PID sees it stay dead."""
    stack = Stack(env, log_to_files=True)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def sipp_for(stack: Stack, workdir: Path) -> Sipp:
    """sipp aimed at `stack`, on ports just above its own block."""
    return Sipp(f"127.0.0.1:{stack.settings.sip_port}", workdir, port_base=stack.settings.sip_port + 20)


@contextmanager
def sipp_peers(stack: Stack, workdir: Path) -> Iterator[Sipp]:
    """sipp_for, and every sipp it started stopped at the end."""
    s = sipp_for(stack, workdir)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Supervised like `./edge run`: a component that dies is restarted (logs/supervisor.log)."""
    env = edge_environment(pick_port_base(), tmp_path_factory.mktemp("edge"))
    with Stack(env, log_to_files=True).running() as stack:
        yield stack


class WrittenHistory:
    """A test reads the edges' history as their own API does: once each edge's history writer
    wrote what it was handed (bounded; kemi_app/sip/history.py). A test's own writes go
    straight to Redis."""

    def __init__(self, *edges: Stack) -> None:
        self.edges = edges

    def put(self, writes: Writes) -> bool:
        return False

    def settle(self, dialogs_only: bool = False) -> None:
        for edge in self.edges:
            if (kamailio := edge.procs.get("kamailio")) is not None and kamailio.poll() is None:
                edge.flush_history(5.0)


def edge_state(url: str, *edges: Stack) -> EdgeState:
    """The tests' view of the edges' Redis."""
    state = EdgeState(connect(url))
    state.history.sink = WrittenHistory(*edges)
    return state


@pytest.fixture(scope="session")
def state(edge: Stack) -> EdgeState:
    return edge_state(edge.settings.effective_redis_url, edge)


RedisServer = tuple[subprocess.Popen[bytes], str]


@contextmanager
def redis_of_its_own() -> Iterator[RedisServer]:
    """A real redis-server no edge uses, on a free loopback port, kept in memory only: its
    process (a test may stop it) and its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield proc, url
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def quiet_state() -> Iterator[EdgeState]:
    """State on a Redis of its own: a test that counts the commands Redis ran (INFO
    commandstats) counts only its own, never an edge's timers working beside it."""
    with redis_of_its_own() as (_, url):
        yield EdgeState(connect(url))


@pytest.fixture(autouse=True)
def _no_stray_sipp(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test must not leave its sipp peers holding ports for the next one."""
    yield
    if "sipp" in request.fixturenames:
        request.getfixturevalue("sipp").stop_all()


@pytest.fixture(scope="session")
def sipp(edge: Stack, tmp_path_factory: pytest.TempPathFactory) -> Sipp:
    return sipp_for(edge, tmp_path_factory.mktemp("sipp"))
