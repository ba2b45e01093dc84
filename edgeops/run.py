"""`./edge run`: start Redis, rtpengine and Kamailio in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import threading

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
    redis = s.redis_url or f"redis://127.0.0.1:{s.redis_port} (own instance, data in {s.data_dir}/redis)"
    return f"""
  Agent Edge is up.
    SIP UDP/TCP   {s.sip_addr}:{s.sip_port}
    SIP WebSocket ws://{s.sip_addr}:{s.ws_port}   wss://{s.sip_addr}:{s.wss_port} (TLS by haproxy)
    Softphone     https://{s.sip_addr}:{s.wss_port}/  (or http://{s.sip_addr}:{s.ws_port}/ from this host)
    Admin HTTP    {stack.admin_url}  (/health, /metrics, /v1 API: ./edgectl --help)
    API token     {token}
    rtpengine     ng {s.rtpengine_ng}, metrics http://{s.rtpengine_http}/metrics
    Redis         {redis}{demo}
  Ctrl-C stops everything.
"""


def main() -> int:
    stack = Stack(log_to_files=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stack.start()
    except StackError as e:
        print(f"edge failed to start: {e}", file=sys.stderr)
        return 1
    print(banner(stack), flush=True)
    while not stop.is_set():
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the edge", file=sys.stderr)
                stop.set()
        stop.wait(1.0)
    stack.stop()
    print("Agent Edge stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
