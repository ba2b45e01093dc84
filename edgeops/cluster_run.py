"""`./edge cluster`: three edge nodes on 127.0.0.11-13 sharing Redis behind Sentinel and two
rtpengines, in the foreground until Ctrl-C or SIGTERM (edgeops/cluster.py)."""

from __future__ import annotations

import os
import signal
import sys
import threading

from edgeops.cluster import Cluster
from edgeops.run import redacted
from edgeops.stack import StackError
from kemi_app.settings import Settings


def banner(cluster: Cluster) -> str:
    shared = cluster.shared.settings
    lines = [f"  Agent Edge cluster is up: {len(cluster.nodes)} nodes sharing Redis"
             f"{' behind Sentinel' if shared.redis_ha else ''} and {len(shared.media_pool)} rtpengine(s)."]
    for i, node in enumerate(cluster.nodes, 1):
        s = node.settings
        lines.append(f"    node {i}  SIP {s.sip_addr}:{s.sip_port} (UDP/TCP)  ws://{s.sip_addr}:{s.ws_port}"
                     f"  admin {node.admin_url}  logs {s.data_dir}/logs")
    sentinels = ",".join(f"{host}:{port}" for host, port in shared.sentinel_addresses)
    lines += [
        f"    Redis    primary 127.0.0.1:{shared.redis_port}, replica 127.0.0.1:{shared.redis_port + 1}, "
        f"sentinels {sentinels} (service {shared.redis_master}; password in {cluster.shared.redis_password_file})"
        if shared.redis_ha else f"    Redis    {redacted(shared.effective_redis_url)}",
        *(f"    rtpengine ng {m.ng} weight {m.weight}  http {http}"
          for m, http in zip(shared.media_pool, shared.rtpengine_http_addresses, strict=True)),
        f"    API token in {cluster.data_dir / 'api_token'} (./edgectl --url <admin> --token-file ...)",
        "  Demo agents as for ./edge run; register on any node. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main() -> int:
    settings = Settings.from_env()
    cluster = Cluster(dict(os.environ), settings.data_dir / "cluster", log_to_files=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cluster.start()
    except StackError as e:
        print(f"cluster failed to start: {e}", file=sys.stderr)
        return 1
    print(banner(cluster), flush=True)
    cluster.supervise(stop)
    cluster.stop()
    print("Agent Edge cluster stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
