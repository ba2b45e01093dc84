"""`./edge run` end to end: banner once healthy, a killed component restarted while the rest
keep running, Ctrl-C stops every process it started (the restarted one too)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edgeops.stack import http_get
from tests.conftest import ROOT, pick_port_base


def _stat(pid_dir: Path) -> tuple[int, int] | None:
    """(parent pid, session id) of a process, None if it is gone."""
    try:
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[3])


def _edge_processes(launcher: int) -> set[int]:
    """The launcher starts each service as a session leader; workers stay in its session."""
    table = {int(p.name): st for p in Path("/proc").iterdir() if p.name.isdigit() and (st := _stat(p))}
    leaders = {pid for pid, (ppid, _) in table.items() if ppid == launcher}
    return {pid for pid, (_, sid) in table.items() if sid in leaders} | leaders


def _child(launcher: int, comm: str) -> int | None:
    """The launcher's child process named `comm`, if any."""
    for pid_dir in Path("/proc").iterdir():
        st = _stat(pid_dir) if pid_dir.name.isdigit() else None
        if st and st[0] == launcher and (pid_dir / "comm").read_text().strip() == comm:
            return int(pid_dir.name)
    return None


def test_run_prints_banner_restarts_what_dies_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    base = pick_port_base()
    env = {k: v for k, v in os.environ.items() if k != "EDGE_API_TOKEN"}
    env.update({
        "EDGE_SIP_PORT": str(base), "EDGE_WS_PORT": str(base + 1), "EDGE_ADMIN_PORT": str(base + 2),
        "EDGE_REDIS_PORT": str(base + 3), "EDGE_RTPENGINE_NG": f"127.0.0.1:{base + 4}",
        "EDGE_RTPENGINE_HTTP": f"127.0.0.1:{base + 5}", "EDGE_RTP_PORT_MIN": "55000", "EDGE_RTP_PORT_MAX": "55199",
        "EDGE_DATA_DIR": str(tmp_path), "EDGE_CHILDREN": "1", "EDGE_SHM_MB": "64", "REDIS_URL": "",
    })
    proc = subprocess.Popen([sys.executable, "-m", "edgeops.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(lines)
        assert "Agent Edge is up" in output, output[-3000:]
        assert "1001@demo.test" in output
        status, _ = http_get(f"http://127.0.0.1:{base + 2}/health")
        assert status == 200
        # No EDGE_API_TOKEN: a token is generated into the data dir, named (never shown) in the banner.
        token = (tmp_path / "api_token").read_text().strip()
        assert str(tmp_path / "api_token") in output and token not in output
        assert (tmp_path / "api_token").stat().st_mode & 0o077 == 0
        password = (tmp_path / "redis_password").read_text().strip()
        assert (tmp_path / "redis_password").stat().st_mode & 0o077 == 0 and password not in output
        ctl = subprocess.run([str(ROOT / "edgectl"), "agent", "get", "demo", "1001"], env=env, capture_output=True,
                             text=True, timeout=30)
        assert ctl.returncode == 0 and '"ext": "1001"' in ctl.stdout, ctl.stderr
        first = _edge_processes(proc.pid)
        assert len(first) > 3  # redis, rtpengine, Kamailio and its workers
        rtpengine = _child(proc.pid, "rtpengine")
        assert rtpengine is not None
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        os.kill(rtpengine, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "rtpengine is back" not in "".join(lines):
            time.sleep(0.2)
        restarted = _child(proc.pid, "rtpengine")
        assert restarted not in (None, rtpengine)
        assert http_get(f"http://127.0.0.1:{base + 2}/health")[0] == 200
        started = _edge_processes(proc.pid)
        assert started == first - {rtpengine} | {restarted}  # the others kept running
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        reader.join(10)
        output = "".join(lines)
        assert proc.returncode == 0
        assert f"rtpengine (pid {rtpengine}) died" in output and f"rtpengine is back (pid {restarted})" in output
        assert password not in output
        assert [pid for pid in started if Path(f"/proc/{pid}").exists()] == []
    finally:
        if proc.poll() is None:  # a check failed before Ctrl-C: leave nothing running
            leftover = _edge_processes(proc.pid)
            proc.kill()
            for pid in leftover:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait(10)
