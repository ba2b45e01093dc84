"""`./edge run`: start and supervise Redis, rtpengine, Kamailio and haproxy in the foreground
until Ctrl-C (stop now) or SIGTERM (drain first: see Stack.drain); a component that dies is
restarted, the others keep running."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from edgeops.stack import Stack, StackError


def banner(stack: Stack) -> str:
    s = stack.settings
    demo = ""
    if s.demo_file:
        with open(s.demo_file) as f:
            data = json.load(f)
        lines = [
            f"    {a['ext']}@{org['domain']}  password {a['password']}"
            for org in data.get("orgs", [])
            for a in org.get("agents", [])
        ]
        demo = "\n  Demo agents (register with digest auth):\n" + "\n".join(lines)
    token = "from EDGE_API_TOKEN" if s.api_token else f"in {stack.api_token_file} (edgectl reads it there)"
    if s.redis_url or (s.redis_sentinels and not s.redis_ha):
        redis = redacted(s.effective_redis_url)
    elif s.redis_ha:
        redis = (f"primary 127.0.0.1:{s.redis_port}, replica 127.0.0.1:{s.redis_port + 1}, sentinels "
                 f"{s.redis_sentinels} watching {s.redis_master!r} (own, data in {s.data_dir})")
    else:
        password = "from EDGE_REDIS_PASSWORD" if stack.environ.get("EDGE_REDIS_PASSWORD") else \
            f"in {stack.redis_password_file}"
        redis = f"redis://127.0.0.1:{s.redis_port} (own instance, data in {s.data_dir}/redis, password {password})"
    rtpengines = ", ".join(f"ng {m.ng} (weight {m.weight}) metrics http://{http}/metrics"
                           for m, http in zip(s.media_pool, s.rtpengine_http_addresses, strict=True))
    return f"""
  Agent Edge is up.
    SIP UDP/TCP   {s.sip_addr}:{s.sip_port}
    SIP WebSocket ws://{s.sip_addr}:{s.ws_port}   wss://{s.sip_addr}:{s.wss_port} (TLS by haproxy)
    Softphone     https://{s.sip_addr}:{s.wss_port}/  (or http://{s.sip_addr}:{s.ws_port}/ from this host)
    Admin HTTP    {stack.admin_url}  (/health, /metrics, /v1 API: ./edgectl --help)
    API token     {token}
    rtpengine     {rtpengines}
    Redis         {redis}{demo}
  A component that dies is restarted; Ctrl-C stops everything.
"""


def redacted(url: str) -> str:
    """A Redis URL fit for the terminal: its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))


def pid_file(stack: Stack) -> Path:
    """Where `edgectl drain` finds this launcher."""
    return stack.data_dir / "run" / "edge.pid"


def main() -> int:
    stack = Stack(log_to_files=False)
    stop, drain = threading.Event(), threading.Event()

    def on_sigterm(*_: object) -> None:
        drain.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)  # Kubernetes, `edgectl drain`: let calls finish
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop now
    try:
        stack.start()
    except StackError as e:
        print(f"edge failed to start: {e}", file=sys.stderr)
        return 1
    pid_file(stack).write_text(f"{os.getpid()}\n")
    print(banner(stack), flush=True)
    stack.supervise(stop)
    if drain.is_set():
        limit = stack.settings.drain_seconds
        print(f"Draining: new calls and registrations refused, calls in progress get up to {limit}s.", flush=True)
        try:
            left = stack.drain(limit)
            print(f"Drained ({left} call(s) still up cut off)." if left else "Drained.", flush=True)
        except StackError as e:
            print(f"drain skipped: {e}", file=sys.stderr)
    stack.stop()
    pid_file(stack).unlink(missing_ok=True)
    print("Agent Edge stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
