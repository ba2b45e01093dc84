"""Starts, supervises and stops the edge's processes: Redis, rtpengine, Kamailio, haproxy.

Used by `./edge run` (foreground, logs to the terminal) and by the integration tests and the
load runner (their own ports and data dir, logs to files). poll() restarts a component that
died, with backoff (edgeops/supervise.py), and leaves the others running. Only processes
started here are ever stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import IO

import redis

from edgeops import moh, redisha, tls
from edgeops.supervise import Phase, Watch
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


# The component groups a stack may run, in order of start; stop goes the other way.
ORDER = ("redis", "rtpengine", "kamailio", "haproxy")
# Kamailio's TLSF allocator for shared and private memory: its malloc and free stay constant
# time, and a REGISTER cost ~16% less Kamailio CPU than with the default (qm) in a profile.
# The load runner's baselines use it too, so the comparison stays like for like.
MEMORY_MANAGER = "tlsf"


class Stack:
    def __init__(self, environ: dict[str, str] | None = None, log_to_files: bool = True,
                 components: tuple[str, ...] = ORDER) -> None:
        """`components`: the ones this stack runs (a cluster node runs only Kamailio and shares
        the Redis and rtpengine another stack runs: edgeops/cluster.py)."""
        self.environ = dict(os.environ if environ is None else environ)
        self.components = components
        self.settings = Settings.from_env(self.environ)
        self.data_dir = self.settings.data_dir
        self.log_to_files = log_to_files
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._watches: dict[str, Watch] = {}
        self._lock = threading.RLock()  # poll() from a supervising thread vs. stop()/restart_kamailio()
        self._stopping = False
        self._first_spawn: set[str] = set()  # Redis HA nodes not spawned yet in this run

    # -- environment ----------------------------------------------------------
    def _secret(self, configured: str, path: Path) -> str:
        """The configured value, else one generated once into the data dir (mode 0600)."""
        if configured:
            return configured
        if not path.exists():
            write_private(path, secrets.token_hex(16))
        path.chmod(0o600)
        return path.read_text().strip()

    def auth_secret(self) -> str:
        return self._secret(self.settings.auth_secret, self.data_dir / "auth_secret")

    @property
    def api_token_file(self) -> Path:
        return self.data_dir / "api_token"

    def api_token(self) -> str:
        """EDGE_API_TOKEN, else a token generated into the data dir, where edgectl finds it."""
        return self._secret(self.settings.api_token, self.api_token_file)

    @property
    def redis_password_file(self) -> Path:
        return self.data_dir / "redis_password"

    def kamailio_env(self) -> dict[str, str]:
        env = dict(self.environ)
        for name in DEFAULTS:
            env[name] = env_value(name, self.environ)
        env["REDIS_URL"] = self.settings.effective_redis_url
        env["EDGE_REDIS_PASSWORD"] = ""  # in REDIS_URL already
        env["EDGE_AUTH_SECRET"] = self.auth_secret()
        # SIP nonces' secret: new at every start and never shared, so a nonce is good only on
        # the Kamailio that issued it (kemi_app/sip/auth.py).
        env["EDGE_KAMAILIO_NONCE_SECRET"] = secrets.token_hex(32)
        env["EDGE_API_TOKEN"] = self.api_token()
        # topoh's key (kamailio.cfg): its encoding is reversible by whoever knows plain text and
        # output, so it is derived from the auth secret, never the secret itself.
        env["EDGE_KAMAILIO_TOPOLOGY_KEY"] = hashlib.sha256(b"topology:" + self.auth_secret().encode()).hexdigest()
        address = self.settings.advertise_addr or self.settings.sip_addr
        env["EDGE_KAMAILIO_TOPOLOGY_ADDR"] = f"[{address}]" if ":" in address else address  # a URI host
        run = self.data_dir / "run"
        env["EDGE_KAMAILIO_CTL_SOCK"] = f"unix:{run}/kamailio_ctl"
        # One rtpengine set per pool member, numbered in pool order (kemi_app/sip/media.py
        # selects the call's set; kamailio.cfg declares sets 1.. under WITH_RTPENGINE_SETn).
        for i, instance in enumerate(self.settings.media_pool):
            env[f"EDGE_KAMAILIO_RTPENGINE_SOCK{i or ''}"] = f"{i} == udp:{instance.ng}"
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
    def _components(self) -> dict[str, tuple[Callable[[], None], Callable[[], bool], float]]:
        """name -> (spawn it, is it ready, seconds it may take to get ready)."""
        s = self.settings
        components: dict[str, tuple[Callable[[], None], Callable[[], bool], float]] = {}
        if s.redis_ha:
            names = redisha.node_names(s)
            for name in names[:2]:
                components[name] = (partial(self._spawn_data_node, name), partial(redisha.data_node_ready, s, name), 15)
            for i, name in enumerate(names[2:]):
                components[name] = (partial(self._spawn_sentinel, i), partial(redisha.sentinel_ready, s, i), 20)
        else:
            components["redis"] = (self._spawn_redis, self.redis_ready, 15)
        for i, member in enumerate(s.media_pool):
            components[rtpengine_name(i)] = (partial(self._spawn_rtpengine, i),
                                             partial(rtpengine_ping, member.ng, 0.3), 15)
        return {
            **components,
            "kamailio": (self._spawn_kamailio, self.kamailio_answers, 30),
            "haproxy": (self._spawn_haproxy, lambda: tcp_open(s.sip_addr, s.wss_port), 15),
        }

    def ready(self, name: str) -> bool:
        """The readiness check the supervisor uses for component `name`."""
        return self._components()[name][1]()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        out: IO[bytes] | int | None = None
        if self.log_to_files:
            old = self._logs.pop(name, None)
            if old is not None:
                old.close()
            out = self._logs[name] = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        # umask: Redis' AOF/RDB, recordings and sockets are created readable by this user only.
        self.procs[name] = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT if out else None, env=env, start_new_session=True, umask=0o077
        )

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise StackError(f"{name} exited with code {proc.returncode}; see {self.log_hint(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise StackError(f"{name} not ready after {timeout:.0f}s; see {self.log_hint(name)}")

    def _launch(self, *names: str) -> None:
        """Spawns `names` together, then waits for each (sentinels are ready only once they
        have found each other)."""
        components = self._components()
        for name in names:
            components[name][0]()
        for name in names:
            _, ready, timeout = components[name]
            self._wait(name, ready, timeout)
            self._watches[name] = Watch(since=time.monotonic())

    def log_hint(self, name: str) -> str:
        return str(self.data_dir / "logs" / f"{name}.log") if self.log_to_files else "the output above"

    def _log(self, message: str) -> None:
        """Supervision events: on stderr under `./edge run`, else in logs/supervisor.log."""
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} edge: {message}\n"
        if self.log_to_files:
            with open(self.data_dir / "logs" / "supervisor.log", "a") as f:
                f.write(line)
        else:
            sys.stderr.write(line)
            sys.stderr.flush()

    def prepare(self) -> None:
        """The data dir and the music on hold (also used by the images' entry point)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # secrets, Redis data (HA1) and recordings live below
        for sub in ("redis", "run", "logs", "recordings"):
            (self.data_dir / sub).mkdir(mode=0o700, exist_ok=True)
        moh.ensure(self.settings.moh_path)
        if self.settings.queue_announcement_file:
            moh.waiting_track(self.settings.moh_path, Path(self.settings.queue_announcement_file),
                              self.settings.queue_announce_seconds, self.settings.queue_wait_path)

    def start(self) -> None:
        sentinels = self.settings.sentinel_addresses
        if self.settings.redis_ha and not (sentinels and all(host == "127.0.0.1" for host, _ in sentinels)):
            raise StackError("EDGE_REDIS_HA=1 needs EDGE_REDIS_SENTINELS: 127.0.0.1:port addresses for its sentinels")
        self.prepare()
        own_redis = not self.settings.redis_url and (self.settings.redis_ha or not self.settings.redis_sentinels)
        if own_redis:
            password = self._secret(self.settings.redis_password, self.redis_password_file)
            self.settings = replace(self.settings, redis_password=password)
        self._stopping = False
        try:
            if own_redis and "redis" in self.components:
                self._first_spawn = set(self.redis_nodes())
                self._launch(*self.redis_nodes())
            for name in self.rtpengine_names() if "rtpengine" in self.components else ():
                # One by one: each sets up the recording spool if missing.
                if self.settings.rtpengine_own:
                    self._launch(name)
                else:  # another launcher runs it (nodes sharing a pool): wait for it to answer
                    _, ready, timeout = self._components()[name]
                    self._wait(name, ready, timeout)
            self.provision()
            if "kamailio" in self.components:
                self._launch("kamailio")
                self._wait("kamailio", lambda: self.health()[0] == 200, 30)
            if "haproxy" in self.components:
                self._launch("haproxy")
        except BaseException:
            self.stop()
            raise

    def _spawn_redis(self) -> None:
        s = self.settings
        redis_dir = self.data_dir / "redis"
        private_tree(redis_dir)  # files of an older run may predate these modes
        conf = self.data_dir / "run" / "redis.conf"
        # The password goes in a 0600 file, never on a command line that `ps` shows.
        write_private(conf, redisha.data_node_config(s.redis_port, redis_dir, s.redis_password))
        self._spawn("redis", ["redis-server", str(conf)])

    def redis_nodes(self) -> list[str]:
        """The Redis components this stack runs, in start order."""
        return redisha.node_names(self.settings) if self.settings.redis_ha else ["redis"]

    def _spawn_data_node(self, name: str) -> None:
        """A primary or replica of the HA group. At the first start the replica follows the
        primary; a restart follows whichever node the sentinels name as primary now."""
        s = self.settings
        port = redisha.data_port(s, name)
        first = name in self._first_spawn
        self._first_spawn.discard(name)
        primary = None if name == "redis" else ("127.0.0.1", s.redis_port)
        named = None if first else redisha.current_primary(s)
        if named is not None:  # None: no sentinel answers, so the first start's roles hold
            primary = None if named[1] == port else named
        node_dir = self.data_dir / name
        node_dir.mkdir(mode=0o700, exist_ok=True)
        private_tree(node_dir)
        conf = self.data_dir / "run" / f"{name}.conf"
        write_private(conf, redisha.data_node_config(port, node_dir, s.redis_password, primary))
        self._spawn(name, ["redis-server", str(conf)])

    def _spawn_sentinel(self, index: int) -> None:
        """A sentinel: its config written fresh at the stack's start, kept (as the sentinel
        rewrote it) when the supervisor restarts it."""
        s = self.settings
        name = redisha.node_names(s)[2 + index]
        conf = self.data_dir / "run" / f"{name}.conf"
        if name in self._first_spawn or not conf.exists():
            self._first_spawn.discard(name)
            _, port = s.sentinel_addresses[index]
            write_private(conf, redisha.sentinel_config(port, self.data_dir / "run", s.redis_master,
                                                        ("127.0.0.1", s.redis_port), s.redis_password))
        self._spawn(name, ["redis-sentinel", str(conf)])

    def redis_ready(self) -> bool:
        """Answers PING with the password and has finished loading its AOF/RDB."""
        client = redis.Redis.from_url(
            self.settings.effective_redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        try:
            return bool(client.ping()) and client.info("persistence").get("loading") == 0
        except redis.RedisError:  # BusyLoadingError included
            return False
        finally:
            client.close()

    def rtpengine_names(self) -> list[str]:
        return [rtpengine_name(i) for i in range(len(self.settings.media_pool))]

    def rtpengine_argv(self, index: int = 0) -> list[str]:
        """Pool member `index`: its own ng and HTTP listeners and its share of the RTP ports."""
        s = self.settings
        interface = s.rtp_addr + (f"!{s.rtp_advertise_addr}" if s.rtp_advertise_addr else "")
        low, high = port_share(s.rtp_port_min, s.rtp_port_max, len(s.media_pool), index)
        return [
            "rtpengine", f"--config-file={PROJECT_ROOT / 'rtpengine' / 'rtpengine.conf'}",
            f"--interface={interface}", f"--listen-ng={s.media_pool[index].ng}",
            f"--listen-http={s.rtpengine_http_addresses[index]}", f"--port-min={low}", f"--port-max={high}",
            f"--pidfile={self.data_dir / 'run' / rtpengine_name(index)}.pid",
            f"--recording-dir={s.recordings_dir}",
        ]

    def _spawn_rtpengine(self, index: int) -> None:
        self._spawn(rtpengine_name(index), self.rtpengine_argv(index))

    def provision(self) -> None:
        from edgeops.provision import load_file
        from kemi_app.state import EdgeState, connect

        if self.settings.demo_file:
            load_file(EdgeState(connect(self.settings.effective_redis_url)), Path(self.settings.demo_file))

    def _spawn_haproxy(self) -> None:
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(tls.prepare(self.settings))])

    def _spawn_kamailio(self) -> None:
        self._spawn("kamailio", self.kamailio_argv(), env=self.kamailio_env())

    def kamailio_argv(self) -> list[str]:
        """Kamailio's command line; empties the metrics dir, so call it right before starting."""
        s = self.settings
        # Samples of a previous Kamailio's workers would be summed into the new one's.
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        argv = [
            "kamailio", "-f", str(PROJECT_ROOT / "kamailio" / "kamailio.cfg"), "-DD", "-E",
            "-m", str(s.shm_mb), "-M", str(s.pkg_mb), "-x", MEMORY_MANAGER,
            "-P", str(self.data_dir / "run" / "kamailio.pid"), "-Y", str(self.data_dir / "run"),
        ]
        if s.advertise_addr:
            argv += ["-A", "WITH_ADVERTISE"]
        for i in range(1, len(s.media_pool)):
            argv += ["-A", f"WITH_RTPENGINE_SET{i}"]
        return argv

    def health(self) -> tuple[int, dict]:
        try:
            status, body = http_get(self.admin_url + "/health", timeout=1.0)
        except OSError as e:
            return 0, {"error": str(e)}
        try:
            return status, json.loads(body or b"{}")
        except ValueError:
            return status, {"raw": body.decode(errors="replace")}

    def kamailio_answers(self) -> bool:
        """Kamailio is up even while Redis or rtpengine is not (its /health says which is down)."""
        status, body = self.health()
        return status in (200, 503) and body.get("components", {}).get("kamailio") == "ok"

    # -- supervision ----------------------------------------------------------
    def poll(self) -> None:
        """One supervision round: restart what died once its backoff is over, note what is back."""
        with self._lock:
            if self._stopping:
                return
            components = self._components()
            for name, watch in self._watches.items():
                spawn, ready, timeout = components[name]
                now = time.monotonic()
                if watch.phase is Phase.DOWN:
                    if watch.due(now):
                        self._restart(name, spawn, watch, now)
                    continue
                proc = self.procs[name]
                code = proc.poll()
                failure = f"died, exit code {code}" if code is not None else None
                if failure is None and watch.phase is Phase.STARTING and now - watch.since > timeout:
                    failure = f"not ready after {timeout:.0f}s, killed"
                if failure is not None:
                    _kill_group(proc)  # a killed Kamailio main process leaves its workers on the ports
                    delay = watch.died(now)
                    self._log(f"{name} (pid {proc.pid}) {failure}; restarting in {delay:.1f}s; "
                              f"the other components keep running")
                elif watch.phase is Phase.STARTING and ready():
                    self._log(f"{name} is back (pid {proc.pid}), {watch.ready(now):.1f}s after it died")
                    if name.startswith("rtpengine") and "kamailio" in self._watches:
                        self._reenable_rtpengine()

    def _restart(self, name: str, spawn: Callable[[], None], watch: Watch, now: float) -> None:
        self._log(f"restarting {name} (attempt {watch.failures})")
        try:
            spawn()
        except (OSError, subprocess.SubprocessError) as e:  # e.g. a config it needs cannot be written
            self._log(f"{name} could not be started: {e}; next attempt in {watch.died(now):.1f}s")
            return
        watch.starting(now)

    def _reenable_rtpengine(self) -> None:
        """Kamailio skips an rtpengine that stopped answering for rtpengine_disable_tout seconds;
        this one answers again now, so calls need not wait for that timer."""
        rpc = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl_socket}", "rtpengine.enable", "all", "1"],
                             capture_output=True, text=True, timeout=5)
        if rpc.returncode != 0:
            self._log(f"could not re-enable rtpengine in Kamailio: {(rpc.stdout + rpc.stderr).strip()}")

    def supervise(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Polls until `stop` is set (the foreground loop of `./edge run`)."""
        while not stop.wait(interval):
            self.poll()

    @contextmanager
    def running(self) -> Iterator[Stack]:
        """Started, supervised from a background thread, stopped at the end (tests, load runs)."""
        self.start()
        stop = threading.Event()
        thread = threading.Thread(target=self.supervise, args=(stop,), name="edge-supervisor", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            self._watches.clear()
            for name in reversed(list(self.procs)):  # the reverse of the start order
                proc = self.procs.pop(name, None)
                if proc is None:
                    continue
                if proc.poll() is None:
                    if name == "kamailio":
                        self.flush_history(min(timeout, 5.0))
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        # Kamailio's children share its process group (start_new_session above).
                        _kill_group(proc)
                        proc.wait(5)
                if name == "kamailio":
                    self.leave_cluster()  # before the edge's own Redis stops
            for log in self._logs.values():
                log.close()
            self._logs.clear()

    def drain(self, limit: float, interval: float = 0.5) -> int:
        """Drains Kamailio: OPTIONS answer 503, new calls and registrations are refused with
        Retry-After (kemi_app/sip/cluster.py), and calls in progress get up to `limit` seconds
        to end. Returns how many were still up when it stopped waiting."""
        self.kamcmd("htable.seti", "node", "draining", "1")
        deadline = time.monotonic() + limit
        while True:
            active = self.active_calls()
            if active == 0 or time.monotonic() >= deadline:
                return active
            time.sleep(interval)

    def flush_history(self, limit: float) -> bool:
        """Waits, at most `limit` seconds, until Kamailio's history writer has written every
        history write handed to it (kemi_app/sip/history.py), so stopping it loses none.
        False when it did not get there (or Kamailio did not answer)."""
        deadline = time.monotonic() + limit
        while True:
            try:
                lag = self.history_lag()
            except (StackError, subprocess.SubprocessError) as e:
                self._log(f"history writes not confirmed before stopping Kamailio: {e}")
                return False
            if lag == 0:
                return True
            if time.monotonic() >= deadline:
                self._log(f"{lag} history write(s) still not written after {limit:.1f}s")
                return False
            time.sleep(0.02)

    def history_lag(self) -> int:
        """History writes handed to Kamailio's writer and not yet written: its htable's hand-over
        number less the one written up to (both 0 until first set; C ints that wrap)."""
        numbers = {name: int(value) for name, value in
                   re.findall(r"name:\s*(\S+)\s*value:\s*(-?\d+)", self.kamcmd("htable.dump", "history"))}
        return (numbers.get("seq", 0) - numbers.get("done", 0)) % (1 << 32)

    def active_calls(self) -> int:
        """Dialogs in any state (`all` of dlg.stats_active: starting to ongoing)."""
        for line in self.kamcmd("dlg.stats_active").splitlines():
            name, _, value = line.strip().partition(":")
            if name == "all" and value.strip().isdigit():
                return int(value)
        raise StackError("dlg.stats_active has no count of all dialogs")

    def kamcmd(self, *args: str) -> str:
        rpc = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl_socket}", *args],
                             capture_output=True, text=True, timeout=5)
        if rpc.returncode != 0:
            raise StackError(f"kamcmd {' '.join(args)}: {(rpc.stdout + rpc.stderr).strip()}")
        return rpc.stdout

    def leave_cluster(self) -> None:
        """A node that stopped on purpose: its agents' bindings stop counting at once, rather
        than when its heartbeat lapses."""
        from kemi_app.state import EdgeState, connect

        try:
            EdgeState(connect(self.settings.effective_redis_url)).nodes.leave(self.settings.node_uri)
        except redis.RedisError as e:
            self._log(f"could not take this node out of the cluster: {e}")

    def restart_kamailio(self) -> None:
        with self._lock:
            proc = self.procs["kamailio"]
            self.flush_history(5.0)  # a clean restart loses no history either
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            self._launch("kamailio")


def rtpengine_name(index: int) -> str:
    """Component name of pool member `index`: rtpengine, rtpengine2, ..."""
    return f"rtpengine{index + 1}" if index else "rtpengine"


def port_share(low: int, high: int, members: int, index: int) -> tuple[int, int]:
    """Member `index`'s slice of the RTP port range [low, high], split evenly."""
    size = (high - low + 1) // members
    start = low + index * size
    return start, (high if index == members - 1 else start + size - 1)


def write_private(path: Path, text: str) -> None:
    """Writes `text` to a file only its owner can read, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def private_tree(root: Path) -> None:
    """Directories 0700 and files 0600 under `root`."""
    root.chmod(0o700)
    for path in root.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False
