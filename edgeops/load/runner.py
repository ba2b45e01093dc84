"""`./edge load`: ramps sipp load against the edge and, side by side, a bare native-config
Kamailio proxy (load-tests/baseline.cfg); measures CPU from /proc, writes the report.

Everything runs on loopback, on ports picked free for this run, and every step is bounded
in calls (rate x seconds) and time (sipp -timeout). Only processes started here are stopped.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgeops import provision
from edgeops.cluster import Cluster
from edgeops.load import profile as pyspy
from edgeops.load import soak
from edgeops.load.media_load import MediaLoad
from edgeops.load.procs import Component, Components, cpu_seconds
from edgeops.load.ramp import StepResult, sustained, verdict
from edgeops.load.redis_stats import CommandCounts, command_counts
from edgeops.load.report import BEFORE, DIRECTORY_SCENARIOS, at_80_percent, write_report
from edgeops.load.sipp_load import SippJob, SippLoad
from edgeops.ports import free_port_block
from edgeops.stack import MEMORY_MANAGER, Stack
from kemi_app.policy.pause import AgentStatus
from kemi_app.settings import PROJECT_ROOT
from kemi_app.state import EdgeState, connect

LOAD = PROJECT_ROOT / "load-tests"
UAS_SCENARIO = LOAD / "sipp" / "uas.xml"
DOMAIN = "load.test"
UAS_PROCESSES = 2
RTP_PORTS = (51000, 64999)  # 4 ports per relayed call: room for 3,500 calls


@dataclass(frozen=True)
class Profile:
    step_seconds: float
    register_rates: tuple[int, ...]
    call_rates: tuple[int, ...]
    hold_ms: int
    register_agents: int
    callees_per_uas: int
    media_calls: tuple[int, ...]
    transcode_calls: tuple[int, ...]
    media_seconds: float
    pause_rates: tuple[int, ...] = ()
    pause_agents: int = 100
    queues: int = 100  # each on its own DID, answered by its own group of agents
    agents_per_queue: int = 5
    big_queue_members: int = 500  # queue500: one queue this big (the same agents' count as queue's)
    directory_agents: int = 100_000  # the directory scenario: agents provisioned in all ...
    directory_registered: int = 50_000  # ... and how many of them it registers
    profile_seconds: int = 0  # py-spy the busiest edge worker this long (0: no profile)


FULL = Profile(
    step_seconds=8, register_rates=(250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000),
    call_rates=(100, 200, 300, 400, 500, 600, 700, 800, 1000, 1200, 1500), hold_ms=500, register_agents=10000,
    callees_per_uas=100, media_calls=(100, 250, 500, 750, 1000, 1250), transcode_calls=(10, 20, 30, 40, 60),
    media_seconds=10, pause_rates=(250, 500, 1000, 1500, 2000, 2500, 3000), profile_seconds=10,
)
QUICK = Profile(
    step_seconds=2, register_rates=(20, 40), call_rates=(10, 20), hold_ms=100, register_agents=100,
    callees_per_uas=5, media_calls=(10, 20), transcode_calls=(2,), media_seconds=2, pause_rates=(20,),
    pause_agents=10, queues=2, agents_per_queue=5, directory_agents=1000, directory_registered=200,
)
SIP_SCENARIOS = ("register", "call", "queue", "queue500", "outbound", "pause")
# "directory" runs register and call again once the directory is large: keep it after them.
SCENARIOS = (*SIP_SCENARIOS, "media", "transcode", "directory", "cluster")
SCALE_ORG_AGENTS = 10_000  # the directory scenario's agents come in orgs of this size, like tenants
# Well under the REGISTER rate the edge sustains on 2 cores (2,000/s in the last run): filling
# the directory is set-up, not a measurement (2,000/s lost 3% of 50,000).
DIRECTORY_REGISTER_RATE = 500
EDGE_ONLY = ("pause", "queue", "queue500")  # the baselines have no agent state, no queues
WITH_MEDIA = ("call", "outbound")  # the native baseline differs from the bare one only here
BIG_QUEUE = "600"  # queue500's service; the small queues are 700 and up
CLUSTER_NODES = ("127.0.0.11", "127.0.0.12")  # callers enter node 1, callees registered on node 2
CLUSTER_RTP_PORTS = (44000, 50999)  # beside the one-node edge's range


def password(ext: str) -> str:
    return f"load{ext}"  # load-tests/baseline.cfg derives the same password


def auth_field(ext: str) -> str:
    """sipp takes per-call credentials as a whole [authentication ...] keyword in a CSV field."""
    return f"[authentication username={ext} password={password(ext)}]"


def pick_port_base(span: int = 200) -> int:
    return free_port_block(12000, 19000, 200, span)


@dataclass
class Target:
    name: str
    sip: str
    components: list[Component]
    commands: Callable[[], CommandCounts] | None = None  # Redis' own count of each command


class Baseline:
    """The bare Kamailio: native config, same workers and shared memory as the edge. Given an
    rtpengine ("host:port" of its ng socket) it anchors media too: the native baseline."""

    def __init__(self, port: int, children: int, shm_mb: int, workdir: Path, gateway: str,
                 rtpengine: str = "") -> None:
        self.port = port
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, BASELINE_PORT=str(port), BASELINE_CHILDREN=str(children),
                   BASELINE_CTL_SOCK=f"unix:{workdir}/ctl", BASELINE_GATEWAY=gateway,
                   BASELINE_RTPENGINE=f"udp:{rtpengine}")
        media = ["-A", "WITH_MEDIA"] if rtpengine else []
        self.log = open(workdir / "kamailio.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["kamailio", "-f", str(LOAD / "baseline.cfg"), *media, "-DD", "-E", "-m", str(shm_mb), "-M", "16",
             "-x", MEMORY_MANAGER, "-P", str(workdir / "kamailio.pid"), "-Y", str(workdir)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not _answers_options(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"baseline Kamailio did not start; see {workdir / 'kamailio.log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def _answers_options(port: int) -> bool:
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{uuid.uuid4().hex}\r\n"
           f"From: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:probe@{DOMAIN}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        s.sendto(msg.replace("127.0.0.1:9", f"127.0.0.1:{s.getsockname()[1]}").encode(), ("127.0.0.1", port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0")
        except OSError:
            return False


class LoadRun:
    def __init__(self, profile: Profile, out: Path, base: int, log: Callable[[str], None] = print) -> None:
        self.profile = profile
        self.out = out
        self.base = base
        self.log = log
        self.edge: Stack | None = None
        self.baselines: list[Baseline] = []
        self.uas: list[subprocess.Popen[bytes]] = []
        self.profiles: dict[str, dict] = {}
        self.redis_per_call: dict[str, dict[str, float]] = {}
        self.state: EdgeState | None = None
        self.reg_agents = [str(10000 + i) for i in range(profile.register_agents)]
        self.callees = [[str(30000 + u * 1000 + i) for i in range(profile.callees_per_uas)]
                        for u in range(UAS_PROCESSES)]
        self.paused = [str(20000 + i) for i in range(profile.pause_agents)]
        # Queue agents answer on the UAS ports like the callees; queue q listens on DID +55114000070q.
        self.queue_agents = [[str(40000 + q * 100 + i) for i in range(profile.agents_per_queue)]
                             for q in range(profile.queues)]
        self.big_queue = [str(60000 + i) for i in range(profile.big_queue_members)]

    # -- targets --------------------------------------------------------------
    @property
    def gateway_port(self) -> int:
        return self.base + 150

    @property
    def carrier_ports(self) -> list[int]:
        """Customers' calls come from these ports: configured as carrier gateways, and never
        used by agents' sipp (a request from a gateway's address is a carrier call)."""
        return [self.base + 160, self.base + 170]

    @staticmethod
    def did(q: int) -> str:
        return f"+5511400{700 + q:04d}"

    BIG_DID = f"+5511400{BIG_QUEUE:>04}"

    def tenant(self) -> dict:
        agents = [{"ext": ext, "password": password(ext)}
                  for ext in [*self.reg_agents, *(c for group in self.callees for c in group)]]
        agents += [{"ext": ext, "password": password(ext), "company": "paused"} for ext in self.paused]
        agents += [{"ext": ext, "password": password(ext)}
                   for ext in [*(e for group in self.queue_agents for e in group), *self.big_queue]]
        services = [{"ext": str(700 + q), "kind": "queue", "name": f"queue{q}", "members": group, "ring_timeout": 5}
                    for q, group in enumerate(self.queue_agents)]
        services.append({"ext": BIG_QUEUE, "kind": "queue", "name": "big", "members": self.big_queue,
                         "ring_timeout": 5})
        carriers = [{"id": f"carrier{i}", "address": f"sip:127.0.0.1:{port}", "priority": 1000}
                    for i, port in enumerate(self.carrier_ports)]
        return {
            "orgs": [{"id": "load", "domain": DOMAIN, "name": "Load test", "agents": agents, "services": services,
                      "companies": [{"id": "paused", "block_calls_during_pause": True}]}],
            "gateways": [{"id": "load-gw", "address": f"sip:127.0.0.1:{self.gateway_port}", "codecs": ["PCMU"]},
                         *carriers],
            "dids": [*({"number": self.did(q), "org": "load", "service": str(700 + q)}
                       for q in range(len(self.queue_agents))),
                     {"number": self.BIG_DID, "org": "load", "service": BIG_QUEUE}],
        }

    def environment(self, b: int, data: Path, rtp: tuple[int, int]) -> dict[str, str]:
        tenant = self.out / "tenant.json"
        tenant.write_text(json.dumps(self.tenant()))
        env = dict(os.environ)
        env.update({
            "REDIS_URL": "", "EDGE_SIP_PORT": str(b), "EDGE_WS_PORT": str(b + 1), "EDGE_ADMIN_PORT": str(b + 2),
            "EDGE_REDIS_PORT": str(b + 3), "EDGE_RTPENGINE_NG": f"127.0.0.1:{b + 4}",
            "EDGE_RTPENGINE_HTTP": f"127.0.0.1:{b + 5}", "EDGE_RTP_PORT_MIN": str(rtp[0]),
            "EDGE_RTP_PORT_MAX": str(rtp[1]), "EDGE_DATA_DIR": str(data),
            "EDGE_DEMO_FILE": str(tenant), "EDGE_LOG_LEVEL": "1", "EDGE_AUTH_MAX_FAILURES": "1000000",
            "EDGE_FLOOD_LIMIT": "0",  # all load comes from one address
        })
        return env

    def start(self, baseline: bool = True) -> list[Target]:
        b = self.base
        env = self.environment(b, self.out / "edge", RTP_PORTS)
        also = f" and the baselines on 127.0.0.1:{b + 10} (bare), {b + 11} (native media)" if baseline else ""
        self.log(f"starting the edge on 127.0.0.1:{b}{also}")
        self.edge = Stack(env, log_to_files=True)
        (self.out / "edge").mkdir(parents=True, exist_ok=True)
        self.edge.start()
        self.state = state = EdgeState(connect(self.edge.settings.effective_redis_url))
        for ext in self.paused:
            state.agents.set_status("load", ext, AgentStatus(paused=True, pause="Break", since=time.time()))
        procs = self.edge.procs
        edge = Target("edge", f"127.0.0.1:{b}", [Component("kamailio", procs["kamailio"].pid),
                                                  Component("redis", procs["redis"].pid),
                                                  Component("rtpengine", procs["rtpengine"].pid)],
                      lambda: command_counts(state.r.info("commandstats")))
        if not baseline:
            return [edge]
        s = self.edge.settings
        gateway = f"sip:127.0.0.1:{self.gateway_port}"
        bare = Baseline(b + 10, s.children, s.shm_mb, self.out / "baseline", gateway)
        self.baselines.append(bare)
        native = Baseline(b + 11, s.children, s.shm_mb, self.out / "native", gateway, s.rtpengine_ng)
        self.baselines.append(native)
        return [edge, Target("baseline", f"127.0.0.1:{b + 10}", [Component("kamailio", bare.proc.pid)]),
                Target("native", f"127.0.0.1:{b + 11}", [Component("kamailio", native.proc.pid),
                                                          Component("rtpengine", procs["rtpengine"].pid)])]

    def redis_usage(self) -> tuple[int, int]:
        """(used_memory bytes, keys) of the edge's Redis."""
        assert self.state is not None
        return int(self.state.r.info("memory")["used_memory"]), int(self.state.r.dbsize())

    def stop(self) -> None:
        self.stop_uas()
        for baseline in self.baselines:
            baseline.stop()
        if self.edge is not None:
            self.edge.stop()

    # -- sipp -----------------------------------------------------------------
    def sipp(self, target: Target, scenario: str) -> SippLoad:
        workdir = self.out / "sipp" / f"{scenario}-{target.name}"
        workdir.mkdir(parents=True, exist_ok=True)
        return SippLoad(target.sip, workdir, [self.base + 20 + 10 * i for i in range(8)])

    def uas_port(self, i: int) -> int:
        return self.base + 120 + 10 * i

    def start_uas(self, target: Target, groups: list[list[str]], seconds: int = 1800) -> None:
        """Agents' phones: each UAS registers its agents from its own port, then answers."""
        for i, callees in enumerate(groups):
            port = self.uas_port(i)
            rows = [[ext, DOMAIN, auth_field(ext)] for ext in callees]
            reg = SippLoad(target.sip, self.out / "sipp", [port])
            rate = min(200, len(rows))
            step = reg.step(SippJob(LOAD / "sipp" / "register.xml", rows, 1000), rate,
                            len(rows) / rate, [], f"uas-register-{target.name}-{i}")
            if step.succeeded < len(rows):
                raise RuntimeError(f"callee registration on {target.name} failed: {step}")
            self.answer_on(target, port, f"uas-{target.name}-{i}", seconds)
        time.sleep(0.5)  # let the UAS bind before calls arrive

    def answer_on(self, target: Target, port: int, tag: str, seconds: int = 1800) -> None:
        """A sipp UAS answering every call on `port` (a callee phone or the carrier gateway)."""
        log = open(self.out / "sipp" / f"{tag}.log", "wb")  # noqa: SIM115 - the child holds it
        self.uas.append(subprocess.Popen(
            ["sipp", target.sip, "-sf", str(UAS_SCENARIO), "-i", "127.0.0.1", "-p", str(port),
             "-cp", str(port + 1), "-mp", str(port + 2), "-t", "u1", "-nostdin", "-max_recv_loops", "2000",
             "-timeout", f"{seconds}s"],
            stdout=log, stderr=subprocess.STDOUT,
        ))
        log.close()

    def uas_components(self) -> list[Component]:
        """The answering sipp processes: their CPU is the load generator's, not other jobs'."""
        return [Component(f"sipp_uas{i}", proc.pid) for i, proc in enumerate(self.uas)]

    def stop_uas(self) -> None:
        for proc in self.uas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.uas.clear()

    def ramp(self, target: Target, scenario: str, rates: tuple[int, ...],
             step: Callable[[int, str], StepResult]) -> list[StepResult]:
        steps: list[StepResult] = []
        for rate in rates:
            result = step(rate, f"{scenario}-{target.name}-{rate}")
            result.verdict = verdict(result, steps[0] if steps else None)
            if result.verdict != "ok":
                # The box is shared (other jobs, the other target's leftovers): a step that
                # fails gets one more try, and the report keeps the try that did better.
                self.log(f"  {scenario:9} {target.name:8} {rate:5}/s: {result.verdict}; trying once more")
                time.sleep(2.0)
                again = step(rate, f"{scenario}-{target.name}-{rate}-again")
                again.verdict = verdict(again, steps[0] if steps else None)
                again.extra["second_try"] = 1
                result = again if again.verdict == "ok" or again.failure_ratio < result.failure_ratio else result
            steps.append(result)
            self.log(f"  {scenario:9} {target.name:8} {rate:5}/s: {result.succeeded}/{result.created} ok, "
                     f"p99 {result.percentile(99):.0f} ms, kamailio {result.cpu_per_1000('kamailio'):.3f} "
                     f"CPU s/1000 -> {result.verdict}")
            if result.verdict != "ok":
                break
            time.sleep(1.0)
        return steps

    def job(self, scenario: str) -> tuple[SippJob, tuple[int, ...]]:
        p = self.profile
        sipp = LOAD / "sipp"
        if scenario == "register":
            rows = [[ext, DOMAIN, auth_field(ext)] for ext in self.reg_agents]
            return SippJob(sipp / "register.xml", rows, per_process_rate=1000), p.register_rates
        if scenario in ("queue", "queue500"):
            dids = [[self.did(q)] for q in range(len(self.queue_agents))] if scenario == "queue" else [[self.BIG_DID]]
            return SippJob(sipp / "queue_call.xml", dids, per_process_rate=600, hold_ms=p.hold_ms), p.call_rates
        if scenario == "pause":
            callee = self.callees[0][0]
            rows = [[ext, DOMAIN, auth_field(ext), callee] for ext in self.paused]
            return SippJob(sipp / "pause_refused.xml", rows, per_process_rate=1000), p.pause_rates
        if scenario == "outbound":  # Brazilian mobile numbers, allowed by the default company rules
            dialled = [f"+55119{i:08d}" for i in range(len(self.reg_agents))]
        else:
            callees = [c for group in self.callees for c in group]
            dialled = [callees[i % len(callees)] for i in range(len(self.reg_agents))]
        rows = [[ext, DOMAIN, auth_field(ext), number] for ext, number in zip(self.reg_agents, dialled, strict=True)]
        return SippJob(sipp / "call.xml", rows, per_process_rate=600, hold_ms=p.hold_ms), p.call_rates

    def step_once(self, load: SippLoad, job: SippJob, target: Target, rate: int, tag: str) -> StepResult:
        return load.step(job, rate, self.profile.step_seconds, target.components + self.uas_components(), tag,
                         target.commands)

    def run_sip(self, scenario: str, targets: list[Target], label: str = "",
                rates: tuple[int, ...] = ()) -> dict[str, list[StepResult]]:
        """`label` names a repeat of the scenario (its Redis growth is kept apart; no profile);
        `rates`, if given, replace the profile's ramp."""
        p = self.profile
        results = {}
        for target in targets:
            if target.name != "edge" and scenario in EDGE_ONLY:
                continue
            if target.name == "native" and scenario not in WITH_MEDIA:
                continue
            load = self.sipp(target, scenario)
            job, profile_rates = self.job(scenario)
            ramp = rates or profile_rates
            if scenario == "call":
                self.start_uas(target, self.callees)
            elif scenario in ("queue", "queue500"):
                load.ports = self.carrier_ports
                members = [e for group in self.queue_agents for e in group] if scenario == "queue" else self.big_queue
                self.start_uas(target, [members[u::UAS_PROCESSES] for u in range(UAS_PROCESSES)])
            elif scenario == "outbound":
                self.answer_on(target, self.gateway_port, f"gateway-{target.name}")
                time.sleep(0.5)
            try:
                before = self.redis_usage() if target.name == "edge" else None
                results[target.name] = self.ramp(
                    target, scenario, ramp,
                    functools.partial(self.step_once, load, job, target),
                )
                if before is not None:
                    self.redis_per_call[label or scenario] = per_call(
                        before, self.redis_usage(), sum(s.created for s in results[target.name]))
                if target.name == "edge" and p.profile_seconds and not label:
                    best = sustained(results[target.name])
                    rate = max(ramp[0], (best.rate if best else ramp[0]) // 2)
                    self.profile_edge(target, scenario, load, job, rate)
            finally:
                self.stop_uas()
        return results

    def run_directory(self, edge: Target, usual: dict[str, list[StepResult]]
                      ) -> tuple[dict[str, list[StepResult]], dict[str, float]]:
        """REGISTER and agent calls again with a large directory: `directory_agents` provisioned
        (in orgs of SCALE_ORG_AGENTS) and `directory_registered` of them registered. CPU per call is
        compared at one rate, 80% of what the `usual` ramps sustained, measured once more with the
        usual directory just before the large one is provisioned: minutes apart on the same edge,
        not against a ramp run long before (a shared box's speed drifts by more than the 10% judged)."""
        assert self.state is not None
        p = self.profile
        again = {}
        for scenario in DIRECTORY_SCENARIOS:
            step = at_80_percent(usual.get(scenario, []))
            if step is not None:
                again[scenario + BEFORE] = self.run_sip(scenario, [edge], scenario + BEFORE, (step.rate,))["edge"]
        before = self.redis_usage()[0]
        extra = max(0, p.directory_agents - sum(len(o["agents"]) for o in self.tenant()["orgs"]))
        orgs = scale_orgs(extra)
        provision.load(self.state, {"orgs": orgs})
        provisioned = self.redis_usage()[0]
        rows = [[a["ext"], o["domain"], auth_field(a["ext"])] for o in orgs for a in o["agents"]]
        rows = rows[:p.directory_registered]
        if rows:
            rate = min(DIRECTORY_REGISTER_RATE, len(rows))
            load = SippLoad(edge.sip, self.out / "sipp", [self.base + 20 + 10 * i for i in range(8)])
            step = load.step(SippJob(LOAD / "sipp" / "register.xml", rows, 1000), rate, len(rows) / rate, [],
                             "directory-register")
            if step.succeeded < len(rows) * 0.999:
                raise RuntimeError(f"registering the large directory failed: {step}")
        registered = self.redis_usage()[0]
        self.log(f"  directory: {p.directory_agents} agents provisioned, {len(rows)} more registered")
        stats = {"agents": p.directory_agents, "registered": len(rows),
                 "bytes_per_provisioned_agent": round((provisioned - before) / extra, 1) if extra else 0.0,
                 "bytes_per_registered_agent": round((registered - provisioned) / len(rows), 1) if rows else 0.0}
        results = {scenario: self.run_sip(scenario, [edge], label=f"{scenario} (large directory)")["edge"]
                   for scenario in DIRECTORY_SCENARIOS}
        return {**again, **results}, stats

    def run_soak(self, edge: Target, minutes: float, interval: float) -> dict[str, object]:
        """The soak: the callees' phones answer, REGISTERs and calls go on at a steady rate."""
        assert self.edge is not None and self.state is not None
        workdir = self.out / "sipp" / "soak"
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.start_uas(edge, self.callees, soak.UAS_SECONDS)

        def refresh_callees() -> None:
            """Between call chunks: the callees' registrations (1 h) and their UAS's -timeout
            are renewed by starting their phones again."""
            nonlocal started
            if time.monotonic() - started > soak.UAS_SECONDS - 5 * 60:
                self.stop_uas()
                started = time.monotonic()
                self.start_uas(edge, self.callees, soak.UAS_SECONDS)

        register, _ = self.job("register")
        call, _ = self.job("call")
        loads = {
            "register": soak.Load(SippLoad(edge.sip, workdir, [self.base + 20]), register, soak.REGISTER_RATE),
            "call": soak.Load(SippLoad(edge.sip, workdir, [self.base + 30]), replace(call, hold_ms=soak.HOLD_MS),
                              soak.CALL_RATE, refresh_callees),
        }
        kamailio = next(c for c in edge.components if c.name == "kamailio")
        sampler = soak.Sampler(kamailio.pids, self.edge.admin_url, self.state, self.edge.settings.rtpengine_ng)
        try:
            return soak.soak(sampler, loads, minutes, interval, self.log)
        finally:
            self.stop_uas()

    def profile_edge(self, target: Target, scenario: str, load: SippLoad, job: SippJob, rate: int) -> None:
        """Load at `rate` while py-spy samples the busiest Kamailio worker."""
        seconds = self.profile.profile_seconds
        kamailio = next(c for c in target.components if c.name == "kamailio")
        runner = threading.Thread(target=load.step, args=(job, rate, seconds + 3, [], f"profile-{scenario}"))
        runner.start()
        try:
            time.sleep(1.0)
            pid = pyspy.busiest(kamailio.pids())
            before = cpu_seconds([pid])
            out = pyspy.record(pid, seconds, self.out / f"profile-{scenario}.txt")
            cpu = cpu_seconds([pid]) - before
        finally:
            runner.join()
        if out is None:
            self.log(f"  profile {scenario}: py-spy not available or failed")
            return
        total, by_self, ours = pyspy.top_functions(out.read_text())
        self.profiles[scenario] = {"rate": rate, "pid": pid, "seconds": seconds, "worker_cpu_seconds": round(cpu, 2),
                                   "samples": total, "sample_rate": 200, "self": by_self, "project": ours}
        self.log(f"  profile {scenario} at {rate}/s: {total} samples, top: {by_self[0][0] if by_self else '-'}")

    def run_cluster(self) -> dict[str, list[StepResult]]:
        """Agent calls between two nodes sharing Redis and rtpengine: callers enter node 1,
        callees are registered on node 2 (the one-node `call` scenario, split)."""
        b = self.base + 40
        cluster = Cluster(self.environment(b, self.out / "cluster", CLUSTER_RTP_PORTS), self.out / "cluster",
                          CLUSTER_NODES, ha=False)  # one Redis and one rtpengine, as the one-node edge
        self.log(f"starting a two-node cluster on {' and '.join(CLUSTER_NODES)}:{b}")
        cluster.start()
        try:
            shared, nodes = cluster.shared.procs, [n.procs["kamailio"].pid for n in cluster.nodes]
            state = EdgeState(connect(cluster.shared.settings.effective_redis_url))
            target = Target("cluster", f"{CLUSTER_NODES[0]}:{b}", [
                Components("kamailio", nodes[0], tuple(nodes[1:])), Component("redis", shared["redis"].pid),
                Component("rtpengine", shared["rtpengine"].pid)], lambda: command_counts(state.r.info("commandstats")))
            self.start_uas(replace(target, sip=f"{CLUSTER_NODES[1]}:{b}"), self.callees)
            job, rates = self.job("call")
            return {"cluster": self.ramp(target, "cluster", rates,
                                         functools.partial(self.step_once, self.sipp(target, "cluster"), job, target))}
        finally:
            self.stop_uas()
            cluster.stop()

    def run_media(self, scenario: str, edge: Target) -> dict[str, list[StepResult]]:
        assert self.edge is not None
        media = MediaLoad(self.edge.settings.rtpengine_ng, self.base + 180, transcode=scenario == "transcode")
        counts = self.profile.transcode_calls if scenario == "transcode" else self.profile.media_calls
        rtpengine = [c for c in edge.components if c.name == "rtpengine"]
        steps = self.ramp(edge, scenario, counts,
                          lambda calls, tag: media.step(calls, self.profile.media_seconds, rtpengine))
        return {"rtpengine": steps}


def scale_orgs(count: int) -> list[dict]:
    """`count` agents in orgs of SCALE_ORG_AGENTS, as a tenant file's "orgs"."""
    orgs = []
    for i, first in enumerate(range(0, count, SCALE_ORG_AGENTS)):
        exts = [str(10000 + n) for n in range(min(SCALE_ORG_AGENTS, count - first))]
        orgs.append({"id": f"scale{i}", "domain": f"scale{i}.{DOMAIN}", "name": f"Scale {i}",
                     "agents": [{"ext": ext, "password": password(ext)} for ext in exts]})
    return orgs


def per_call(before: tuple[int, int], after: tuple[int, int], calls: int) -> dict[str, float]:
    """What a scenario's calls added to Redis, per call: bytes (used_memory) and keys."""
    return {"calls": calls, "bytes_per_call": round((after[0] - before[0]) / calls, 1) if calls else 0.0,
            "keys_per_call": round((after[1] - before[1]) / calls, 3) if calls else 0.0}


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))

    def version(argv: list[str]) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            out = proc.stdout or proc.stderr
        except OSError:
            return "unknown"
        return out.strip().splitlines()[0] if out.strip() else "unknown"

    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "memory_gb": f"{int(mem) / 1024 / 1024:.1f}",
        "kernel": os.uname().release, "kamailio": version(["kamailio", "-v"]),
        "rtpengine": version(["rtpengine", "--version"]), "sipp": version(["sipp", "-v"]).strip(),
        "redis": version(["redis-server", "--version"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./edge load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the runner works (~1 min)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}")
    parser.add_argument("--out", type=Path, help="report directory (default load-tests/results/<time>)")
    parser.add_argument("--soak", type=float, metavar="MINUTES",
                        help="instead of the ramps: steady REGISTERs and calls this long, memory sampled over time")
    parser.add_argument("--soak-interval", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between soak samples (default 10)")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    profile = QUICK if args.quick or args.soak else FULL
    if args.soak is not None and not 0 < args.soak <= 24 * 60:
        parser.error("--soak takes 0 to 1440 minutes")
    out = args.out or LOAD / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    run = LoadRun(profile, out, pick_port_base())
    results: dict[str, dict[str, list[StepResult]]] = {}
    errors: dict[str, str] = {}
    soaked: dict[str, object] | None = None
    directory: dict[str, float] = {}
    try:
        targets = run.start(baseline=args.soak is None)
        if args.soak is not None:
            soaked = run.run_soak(targets[0], args.soak, args.soak_interval)
            scenarios = []
        for scenario in scenarios:
            try:
                if scenario in SIP_SCENARIOS:
                    results[scenario] = run.run_sip(scenario, targets)
                elif scenario == "cluster":
                    results[scenario] = run.run_cluster()
                elif scenario == "directory":
                    usual = {name: steps.get("edge", []) for name, steps in results.items()}
                    results[scenario], directory = run.run_directory(targets[0], usual)
                else:
                    results[scenario] = run.run_media(scenario, targets[0])
            except Exception as e:  # one broken scenario must not cost the others' results
                errors[scenario] = f"{type(e).__name__}: {e}"
                run.log(f"  {scenario} failed: {errors[scenario]}")
    finally:
        run.stop()
    command = "./edge load" + (" --quick" if args.quick else "") + (
        f" --scenarios {args.scenarios}" if args.scenarios != ",".join(SCENARIOS) else "") + (
        f" --soak {args.soak:g}" if args.soak is not None else "")
    paths = write_report(out, results, {
        "command": command, "machine": machine(), "profile": asdict(profile),
        "seconds": round(time.monotonic() - started, 1), "py_spy": run.profiles, "errors": errors,
        "redis_per_call": run.redis_per_call, "directory": directory,
    }, soaked)
    print("report: " + ", ".join(str(p) for p in paths))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
