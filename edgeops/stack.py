"""Starts and stops the edge's processes: Redis, rtpengine, then Kamailio.

Used by `./edge run` (foreground, logs to the terminal) and by the integration tests (their
own ports and data dir, logs to files). Only processes started here are ever stopped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from edgeops import moh, tls
from kemi_app.rtpengine_ng import ping as rtpengine_ping
from kemi_app.settings import DEFAULTS, PROJECT_ROOT, Settings, env_value


class StackError(RuntimeError):
    pass


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Stack:
    def __init__(self, environ: dict[str, str] | None = None, log_to_files: bool = True) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.settings = Settings.from_env(self.environ)
        self.data_dir = self.settings.data_dir
        self.log_to_files = log_to_files
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    # -- environment ----------------------------------------------------------
    def _secret(self, configured: str, path: Path) -> str:
        """The configured value, else one generated once into the data dir (mode 0600)."""
        if configured:
            return configured
        if not path.exists():
            path.touch(0o600)
            path.write_text(secrets.token_hex(16))
        return path.read_text().strip()

    def auth_secret(self) -> str:
        return self._secret(self.settings.auth_secret, self.data_dir / "auth_secret")

    @property
    def api_token_file(self) -> Path:
        return self.data_dir / "api_token"

    def api_token(self) -> str:
        """EDGE_API_TOKEN, else a token generated into the data dir, where edgectl finds it."""
        return self._secret(self.settings.api_token, self.api_token_file)

    def kamailio_env(self) -> dict[str, str]:
        env = dict(self.environ)
        for name in DEFAULTS:
            env[name] = env_value(name, self.environ)
        env["REDIS_URL"] = self.settings.effective_redis_url
        env["EDGE_AUTH_SECRET"] = self.auth_secret()
        env["EDGE_API_TOKEN"] = self.api_token()
        run = self.data_dir / "run"
        env["EDGE_KAMAILIO_CTL_SOCK"] = f"unix:{run}/kamailio_ctl"
        env["EDGE_KAMAILIO_RTPENGINE_SOCK"] = f"udp:{self.settings.rtpengine_ng}"
        env["EDGE_KAMAILIO_KEMI_SCRIPT"] = str(PROJECT_ROOT / "kamailio" / "kemi.py")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        return env

    @property
    def metrics_dir(self) -> Path:
        """prometheus_client's per-worker sample files (see kemi_app/metrics.py)."""
        return self.data_dir / "run" / "metrics"

    @property
    def ctl_socket(self) -> str:
        return str(self.data_dir / "run" / "kamailio_ctl")

    @property
    def admin_url(self) -> str:
        return f"http://{self.settings.admin_addr}:{self.settings.admin_port}"

    # -- processes ------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        out: IO[bytes] | int | None = None
        if self.log_to_files:
            log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
            self._logs.append(log)
            out = log
        self.procs[name] = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT if out else None, env=env, start_new_session=True
        )

    def _wait(self, name: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise StackError(f"{name} exited with code {proc.returncode}; see {self.log_hint(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise StackError(f"{name} not ready after {timeout:.0f}s; see {self.log_hint(name)}")

    def log_hint(self, name: str) -> str:
        return str(self.data_dir / "logs" / f"{name}.log") if self.log_to_files else "the output above"

    def start(self) -> None:
        for sub in ("redis", "run", "logs", "recordings"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        moh.ensure(self.settings.moh_path)
        try:
            self._start_redis()
            self._start_rtpengine()
            self._provision()
            self._start_kamailio()
            self._start_tls()
        except BaseException:
            self.stop()
            raise

    def _start_redis(self) -> None:
        if self.settings.redis_url:
            return
        port = self.settings.redis_port
        self._spawn(
            "redis",
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.data_dir / "redis"),
                "--appendonly", "yes", "--save", "60 1", "--daemonize", "no", "--protected-mode", "yes",
                "--loglevel", "warning",
            ],
        )
        self._wait("redis", lambda: _tcp_open("127.0.0.1", port), 15)

    def _start_rtpengine(self) -> None:
        s = self.settings
        interface = s.rtp_addr + (f"!{s.rtp_advertise_addr}" if s.rtp_advertise_addr else "")
        self._spawn(
            "rtpengine",
            [
                "rtpengine", f"--config-file={PROJECT_ROOT / 'rtpengine' / 'rtpengine.conf'}",
                f"--interface={interface}", f"--listen-ng={s.rtpengine_ng}", f"--listen-http={s.rtpengine_http}",
                f"--port-min={s.rtp_port_min}", f"--port-max={s.rtp_port_max}",
                f"--pidfile={self.data_dir / 'run' / 'rtpengine.pid'}",
                f"--recording-dir={self.data_dir / 'recordings'}",
            ],
        )
        self._wait("rtpengine", lambda: rtpengine_ping(s.rtpengine_ng, 0.3), 15)

    def _provision(self) -> None:
        from edgeops.provision import load_file
        from kemi_app.state import EdgeState, connect

        if self.settings.demo_file:
            load_file(EdgeState(connect(self.settings.effective_redis_url)), Path(self.settings.demo_file))

    def _start_tls(self) -> None:
        s = self.settings
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(tls.prepare(s))])
        self._wait("haproxy", lambda: _tcp_open(s.sip_addr, s.wss_port), 15)

    def _start_kamailio(self) -> None:
        s = self.settings
        # Samples of a previous Kamailio's workers would be summed into the new one's.
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        argv = [
            "kamailio", "-f", str(PROJECT_ROOT / "kamailio" / "kamailio.cfg"), "-DD", "-E",
            "-m", str(s.shm_mb), "-M", str(s.pkg_mb),
            "-P", str(self.data_dir / "run" / "kamailio.pid"), "-Y", str(self.data_dir / "run"),
        ]
        if s.advertise_addr:
            argv += ["-A", "WITH_ADVERTISE"]
        self._spawn("kamailio", argv, env=self.kamailio_env())
        self._wait("kamailio", lambda: self.health()[0] == 200, 30)

    def health(self) -> tuple[int, dict]:
        try:
            status, body = http_get(self.admin_url + "/health", timeout=1.0)
        except OSError as e:
            return 0, {"error": str(e)}
        try:
            return status, json.loads(body or b"{}")
        except ValueError:
            return status, {"raw": body.decode(errors="replace")}

    def stop(self, timeout: float = 10.0) -> None:
        for name in ("haproxy", "kamailio", "rtpengine", "redis"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # Kamailio's children share its process group (start_new_session above).
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def restart_kamailio(self) -> None:
        proc = self.procs.pop("kamailio")
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        self._start_kamailio()


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False
