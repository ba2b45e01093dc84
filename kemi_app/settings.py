"""Edge settings: every knob is an environment variable with a default here.

This is the single source of defaults. The launcher exports the resolved values so the
Kamailio config (which reads them with #!defenv) and the KEMI app agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from kemi_app.policy.cluster import peer_addresses
from kemi_app.policy.media_pool import MediaInstance, PoolError, parse_pool
from kemi_app.redis_locator import SentinelLocator, address

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# name -> (default, description); the README's configuration table lists the same (tests/unit/test_settings.py).
DEFAULTS: dict[str, tuple[str, str]] = {
    "EDGE_SIP_ADDR": ("127.0.0.1", "Address Kamailio binds for SIP (UDP, TCP, WS) and the node's identity"),
    "EDGE_ADVERTISE_ADDR": ("", "Address put in Record-Route/Via when behind NAT (empty: the bind address)"),
    "EDGE_SIP_PORT": ("5060", "SIP over UDP and TCP"),
    "EDGE_WS_PORT": ("8080", "SIP over WebSocket (ws://) and the softphone page (GET /)"),
    "EDGE_WSS_PORT": ("8443", "SIP over secure WebSocket (wss://, TLS by haproxy) and the softphone page over https"),
    "EDGE_TLS_CERT": ("", "PEM with certificate and key for wss:// (empty: a self-signed one made in the data dir)"),
    "EDGE_ADMIN_ADDR": ("127.0.0.1", "Admin HTTP listener address (loopback by default)"),
    "EDGE_ADMIN_PORT": ("9090", "Admin HTTP listener: /health, /metrics, /v1 API"),
    "EDGE_API_TOKEN": ("", "Bearer token for the /v1 admin API (empty: the API answers 401)"),
    "REDIS_URL": ("", "External Redis; empty: the edge starts its own on EDGE_REDIS_PORT"),
    "EDGE_REDIS_PORT": ("6390", "Port of the edge's own Redis when REDIS_URL is empty"),
    "EDGE_REDIS_PASSWORD": ("", "Password of the edge's own Redis (empty: generated once in the data dir)"),
    "EDGE_REDIS_SENTINELS": ("", "Redis Sentinels (host:port,...) that find the primary; empty: one instance"),
    "EDGE_REDIS_MASTER": ("edge", "Name of the primary the sentinels watch"),
    "EDGE_REDIS_HA": ("0", "1: the launcher starts a primary, a replica and a sentinel on each EDGE_REDIS_SENTINELS"),
    "EDGE_RTPENGINE_NG": ("127.0.0.1:2223", "rtpengine control (ng protocol) address; a pool: host:port=weight,..."),
    "EDGE_RTPENGINE_HTTP": ("127.0.0.1:2225", "rtpengine HTTP listener (/metrics, /ping); one per pool member"),
    "EDGE_RTPENGINE_OWN": ("1", "1: the launcher starts every EDGE_RTPENGINE_NG member; 0: they run elsewhere"),
    "EDGE_RTP_ADDR": ("127.0.0.1", "Address rtpengine relays media on"),
    "EDGE_RTP_ADVERTISE_ADDR": ("", "Public media address put in SDP (empty: EDGE_RTP_ADDR)"),
    "EDGE_RTP_PORT_MIN": ("30000", "Lowest RTP port"),
    "EDGE_RTP_PORT_MAX": ("34999", "Highest RTP port"),
    "EDGE_MEDIA_ANCHOR_RTP": ("1", "Relay plain RTP <-> RTP calls through rtpengine too (0: endpoints talk directly)"),
    "EDGE_MEDIA_FORCE_OPUS": ("0", "1: browsers always get Opus, transcoded when the other side lacks it"),
    "EDGE_MOH_FILE": ("", "Music on hold played by rtpengine (empty: a tune generated in the data dir)"),
    "EDGE_QUEUE_ANNOUNCEMENT_FILE": ("", "WAV played to callers waiting in a queue between stretches of music "
                                     "(empty: music only)"),
    "EDGE_QUEUE_ANNOUNCE_SECONDS": ("30", "Seconds of music between two queue announcements"),
    "EDGE_DATA_DIR": (str(PROJECT_ROOT / "var"), "Runtime files: Redis data, pid files, logs, secrets"),
    "EDGE_DEMO_FILE": (str(PROJECT_ROOT / "provisioning" / "demo.json"), "Tenant file loaded at start (empty: none)"),
    "EDGE_AUTH_SECRET": ("", "Signing secret shared by all edge nodes (empty: generated once in the data dir)"),
    "EDGE_CHILDREN": ("4", "Kamailio UDP and TCP worker processes each"),
    "EDGE_SHM_MB": ("512", "Kamailio shared memory in MB"),
    "EDGE_PKG_MB": ("16", "Kamailio private memory per process in MB"),
    "EDGE_LOG_LEVEL": ("2", "Kamailio debug level (-1 error, 0 warning, 1 notice, 2 info, 3 debug)"),
    "EDGE_AUTH_MAX_FAILURES": ("5", "Failed digest attempts per agent and source before 403"),
    "EDGE_FLOOD_LIMIT": ("200", "Requests per source address per 2 s before it is banned for a minute (0: no limit)"),
    "EDGE_TCP_PER_SOURCE": ("128", "TCP and WebSocket connections per source address (0: no limit)"),
    "EDGE_GATEWAY_TIMEOUT_MS": ("3000", "No answer at all from a carrier gateway after this: fail over to the next"),
    "EDGE_REDIS_TIMEOUT_MS": ("250", "SIP workers wait this long for Redis; after a few timeouts in a row: 503"),
    "EDGE_RECONCILE_SECONDS": ("30", "How often call records and rtpengine sessions are checked against live dialogs"),
    "EDGE_HISTORY_RETENTION_DAYS": ("30", "How long call records and their history are kept in Redis"),
    "EDGE_RECORDING_RETENTION_DAYS": ("30", "How long call recordings are kept: their files and records go together"),
    "EDGE_PEERS": ("", "Other edge nodes (host:port, comma-separated) trusted to hand over calls for agents held here"),
    "EDGE_DRAIN_SECONDS": ("30", "On SIGTERM or `edgectl drain`: how long calls may go on before the node stops"),
}


def env_value(name: str, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    return value if value != "" else DEFAULTS[name][0]


@dataclass(frozen=True)
class Settings:
    sip_addr: str
    advertise_addr: str
    sip_port: int
    ws_port: int
    wss_port: int
    tls_cert: str
    admin_addr: str
    admin_port: int
    api_token: str
    redis_url: str
    redis_port: int
    redis_password: str
    redis_sentinels: str
    redis_master: str
    redis_ha: bool
    rtpengine_ng: str
    rtpengine_http: str
    rtpengine_own: bool
    rtp_addr: str
    rtp_advertise_addr: str
    rtp_port_min: int
    rtp_port_max: int
    media_anchor_rtp: bool
    media_force_opus: bool
    moh_file: str
    queue_announcement_file: str
    queue_announce_seconds: int
    data_dir: Path
    demo_file: str
    auth_secret: str
    children: int
    shm_mb: int
    pkg_mb: int
    log_level: int
    auth_max_failures: int
    flood_limit: int
    tcp_per_source: int
    gateway_timeout_ms: int
    redis_timeout_ms: int
    reconcile_seconds: int
    history_retention_days: int
    recording_retention_days: int
    peers: str
    drain_seconds: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        values: dict[str, object] = {}
        for f in fields(cls):
            env_name = "REDIS_URL" if f.name == "redis_url" else "EDGE_" + f.name.upper()
            raw = env_value(env_name, environ)
            if f.type == "int":
                values[f.name] = int(raw)
            elif f.type == "bool":
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif f.type == "Path":
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    @property
    def effective_redis_url(self) -> str:
        """REDIS_URL as given (it carries its own password), else the primary the sentinels
        name, else the edge's own instance."""
        if self.redis_url:
            return self.redis_url
        if self.redis_sentinels:
            return SentinelLocator(self.sentinel_addresses, self.redis_master, self.redis_password).url
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}127.0.0.1:{self.redis_port}/0"

    @cached_property
    def media_pool(self) -> tuple[MediaInstance, ...]:
        """Parsed once: the SIP path reads it for every call with media."""
        return parse_pool(self.rtpengine_ng)

    @property
    def rtpengine_http_addresses(self) -> tuple[str, ...]:
        """The HTTP listener of each pool member the launcher starts, in pool order."""
        listed = tuple(a.strip() for a in self.rtpengine_http.split(",") if a.strip())
        if len(listed) != len(self.media_pool):
            raise PoolError("EDGE_RTPENGINE_HTTP needs one address per EDGE_RTPENGINE_NG instance")
        return listed

    @property
    def sentinel_addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(address(a) for a in self.redis_sentinels.split(",") if a.strip())

    @property
    def moh_path(self) -> Path:
        return Path(self.moh_file) if self.moh_file else self.data_dir / "moh.wav"

    @property
    def recordings_dir(self) -> Path:
        """rtpengine's recording-dir (pcaps/, metadata/) and the audio files (audio/)."""
        return self.data_dir / "recordings"

    @property
    def queue_wait_path(self) -> Path:
        """What callers waiting in a queue hear: the music, with the announcement after every
        EDGE_QUEUE_ANNOUNCE_SECONDS when there is one (one track, played in a loop)."""
        return self.data_dir / "queue-wait.wav" if self.queue_announcement_file else self.moh_path

    @property
    def peer_addresses(self) -> frozenset[str]:
        return peer_addresses(self.peers)

    @cached_property  # settings never change in a process: asked per reply and dialog event
    def peer_hosts(self) -> frozenset[str]:
        return frozenset(hp.rsplit(":", 1)[0] for hp in self.peer_addresses)

    @cached_property
    def node_uri(self) -> str:
        """How other edge nodes reach this one (used to route to bindings held here)."""
        return f"sip:{self.advertise_addr or self.sip_addr}:{self.sip_port}"
