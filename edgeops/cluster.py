"""`./edge cluster`: several edge nodes as one, on this machine.

Three Kamailio nodes on their own loopback addresses (127.0.0.11-13: all of 127.0.0.0/8 is
local on Linux, no `ip addr add` needed), each a peer of the others, sharing what a separate
stack runs: Redis behind Sentinel (a primary, a replica, three sentinels: edgeops/redisha.py)
and a pool of two rtpengines. Every node has its own data dir (control socket, pid files,
logs, metrics) and the same auth secret and API token.

Unless the environment names them (EDGE_REDIS_SENTINELS, a pool in EDGE_RTPENGINE_NG), the
sentinels listen on the three ports after the replica's (EDGE_REDIS_PORT + 2..4) and the
second rtpengine on the first one's ng and HTTP ports + SECOND_RTPENGINE_OFFSET.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from edgeops.stack import Stack
from kemi_app.settings import Settings

NODE_ADDRS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
SENTINELS = 3
SECOND_RTPENGINE_OFFSET = 10


class Cluster:
    def __init__(self, environ: dict[str, str], data_dir: Path, node_addrs: tuple[str, ...] = NODE_ADDRS,
                 log_to_files: bool = True, ha: bool = True) -> None:
        """`ha`: Sentinel and two rtpengines (highly_available) where the environment names
        none; without, the environment's Redis and rtpengine as they are (the load runner's
        cluster scenario, compared with one node)."""
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.environ = {
            **environ,
            **(highly_available(Settings.from_env(environ)) if ha else {}),
            # One secret and token for every node: nonces, signed routes and hand-overs verify anywhere.
            "EDGE_AUTH_SECRET": environ.get("EDGE_AUTH_SECRET") or _shared_secret(data_dir / "auth_secret"),
            "EDGE_API_TOKEN": environ.get("EDGE_API_TOKEN") or _shared_secret(data_dir / "api_token"),
        }
        self.node_addrs = node_addrs
        self.log_to_files = log_to_files
        self.shared = Stack({**self.environ, "EDGE_DATA_DIR": str(data_dir / "shared")}, log_to_files,
                            components=("redis", "rtpengine"))
        self.nodes: list[Stack] = []

    def node_environ(self, index: int, redis_url: str) -> dict[str, str]:
        port = self.environ.get("EDGE_SIP_PORT") or "5060"
        addr = self.node_addrs[index]
        return {
            **self.environ,
            "EDGE_DATA_DIR": str(self.data_dir / f"node{index + 1}"),
            "EDGE_SIP_ADDR": addr,
            "EDGE_ADMIN_ADDR": addr,
            "REDIS_URL": redis_url,
            "EDGE_DEMO_FILE": "",  # loaded once, by the shared stack
            "EDGE_RTPENGINE_OWN": "0",  # the shared stack runs the pool
            "EDGE_PEERS": ",".join(f"{other}:{port}" for other in self.node_addrs if other != addr),
        }

    def start(self) -> None:
        self.shared.start()
        try:
            url = self.shared.settings.effective_redis_url
            for i in range(len(self.node_addrs)):
                node = Stack(self.node_environ(i, url), self.log_to_files, components=("kamailio",))
                self.nodes.append(node)
                node.start()
        except BaseException:
            self.stop()
            raise

    def poll(self) -> None:
        for stack in (self.shared, *self.nodes):
            stack.poll()

    def supervise(self, stop: threading.Event, interval: float = 0.2) -> None:
        while not stop.wait(interval):
            self.poll()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.nodes.clear()
        self.shared.stop()


def highly_available(settings: Settings) -> dict[str, str]:
    """The settings that give the shared stack Sentinel and a pool of two rtpengines, where
    the environment does not say already."""
    extra: dict[str, str] = {}
    if not settings.redis_sentinels and not settings.redis_url:
        ports = range(settings.redis_port + 2, settings.redis_port + 2 + SENTINELS)
        extra |= {"EDGE_REDIS_HA": "1", "EDGE_REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in ports)}
    if len(settings.media_pool) == 1:
        ng, (http,) = settings.media_pool[0].ng, settings.rtpengine_http_addresses
        extra |= {"EDGE_RTPENGINE_NG": f"{ng}=1,{_shifted(ng)}=1", "EDGE_RTPENGINE_HTTP": f"{http},{_shifted(http)}"}
    return extra


def _shifted(address: str) -> str:
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + SECOND_RTPENGINE_OFFSET}"


def _shared_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()
