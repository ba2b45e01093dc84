"""`edgectl drain` (what a Kubernetes preStop hook runs) on a running `./edge run`: load
balancers' OPTIONS get 503 at once, the call in progress finishes, then the edge stops."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from edgeops.stack import http_get
from tests.conftest import ROOT, edge_environment, pick_port_base
from tests.integration.api_client import api
from tests.integration.helpers import answer_one, call, finish, register
from tests.integration.rtp import wait_for
from tests.integration.sip_probe import options
from tests.sipp import Sipp


def test_drain_refuses_new_work_lets_the_call_finish_then_stops(tmp_path: Path) -> None:
    base = pick_port_base()
    env = edge_environment(base, tmp_path / "edge", EDGE_DRAIN_SECONDS="20")
    proc = subprocess.Popen([sys.executable, "-m", "edgeops.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Ctrl-C stops everything" not in "".join(lines):
            time.sleep(0.2)
        assert http_get(f"http://127.0.0.1:{base + 2}/health")[0] == 200, "".join(lines)[-3000:]
        sipp = Sipp(f"127.0.0.1:{base}", tmp_path, port_base=base + 20)
        port = sipp.next_port()
        assert register(sipp, "1002", port).ok
        phone = answer_one(sipp, port)
        result = {}
        caller = threading.Thread(target=lambda: result.setdefault("r", call(sipp, "1001", "1002", hold_ms=4000)))
        caller.start()
        admin = SimpleNamespace(admin_url=f"http://127.0.0.1:{base + 2}")
        in_call = wait_for(lambda: api(admin, "GET", "/v1/orgs/demo/agents/1002/presence")[1]["state"] == "in-call",
                           30)
        assert in_call, "the call never came up"
        ctl = subprocess.run([str(ROOT / "edgectl"), "drain", "--no-wait"], env=env, capture_output=True,
                             text=True, timeout=30)
        assert ctl.returncode == 0, ctl.stderr
        time.sleep(0.5)
        probe = options(("127.0.0.1", base))
        assert (probe.status, probe.header("Retry-After")) == (503, "30")
        assert proc.poll() is None  # still up: the call is in progress
        caller.join(60)
        assert "r" in result, "the call did not end"
        assert result["r"].ok, result["r"].output + result["r"].errors
        assert finish(phone)[0] == 0
        proc.wait(20)
        reader.join(5)
        output = "".join(lines)
        assert proc.returncode == 0 and "Drained." in output, output[-3000:]
        assert not (tmp_path / "edge" / "run" / "edge.pid").exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            proc.wait(30)
