"""`./edge cluster`: several edge nodes as one, on this machine.

Three Kamailio nodes on their own loopback addresses (127.0.0.11-13: all of 127.0.0.0/8 is
local on Linux, no `ip addr add` needed), each a peer of the others, sharing one Redis and
one rtpengine that a separate stack runs. Every node has its own data dir (control socket,
pid files, logs, metrics) and the same auth secret and API token.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from edgeops.stack import Stack

NODE_ADDRS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


class Cluster:
    def __init__(self, environ: dict[str, str], data_dir: Path, node_addrs: tuple[str, ...] = NODE_ADDRS,
                 log_to_files: bool = True) -> None:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.environ = {
            **environ,
            # One secret and token for every node: nonces, signed routes and hand-overs verify anywhere.
            "EDGE_AUTH_SECRET": environ.get("EDGE_AUTH_SECRET") or _shared_secret(data_dir / "auth_secret"),
            "EDGE_API_TOKEN": environ.get("EDGE_API_TOKEN") or _shared_secret(data_dir / "api_token"),
        }
        self.node_addrs = node_addrs
        self.log_to_files = log_to_files
        # Hook: a Redis Sentinel set and an rtpengine pool replace this one shared stack.
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


def _shared_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()
