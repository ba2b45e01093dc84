"""The admin listener's routes. /health and /metrics are open (loopback by default);
everything under /v1 needs the bearer token from EDGE_API_TOKEN."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path

from kemi_app import metrics, rtpengine_ng
from kemi_app.admin.api import ProvisioningApi
from kemi_app.admin.calls_api import CallsApi, RecordCall, Supervise, TransferOrg
from kemi_app.admin.health import health
from kemi_app.admin.router import HttpRequest, HttpResponse, Router, error, unsupported_media
from kemi_app.metrics import Family
from kemi_app.policy.feature_codes import Feature
from kemi_app.policy.interorg import Outcome, TransferRequest
from kemi_app.policy.recording import Action
from kemi_app.policy.recording import Refusal as RecordingRefusal
from kemi_app.policy.supervision import Refusal as SupervisionRefusal
from kemi_app.settings import Settings
from kemi_app.state import EdgeState


def token_ok(settings: Settings, req: HttpRequest) -> bool:
    expected = settings.api_token
    given = req.headers.get("authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given[len("Bearer ") :].strip().encode(), expected.encode())


class AdminApp:
    def __init__(
        self, settings: Settings, state: EdgeState,
        kamailio_families: Callable[[], list[metrics.Family]] = list,
        transfer_org: TransferOrg | None = None,
        record_call: RecordCall | None = None,
        started: Callable[[], bool] = lambda: True,
        supervise: Supervise | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.kamailio_families = kamailio_families
        self.started = started
        self.open = Router()
        self.open.add("GET", "/health", lambda req, params: self.health())
        self.open.add("GET", "/metrics", lambda req, params: self.metrics())
        self.api = Router()
        calls = CallsApi(state, transfer_org or _no_sip, supervise or _no_supervision, record_call or _no_media,
                         settings.peer_addresses)
        ProvisioningApi(state).register(self.api, calls.routes())

    def checks(self) -> dict[str, Callable[[], bool]]:
        return {
            "redis": self.state.ping,
            # A pool serves calls while any member answers (sip/mediapool.py takes out the others).
            "rtpengine": lambda: any(rtpengine_ng.ping(m.ng, 0.5) for m in self.settings.media_pool),
        }

    def health(self) -> HttpResponse:
        return health(self.checks(), self.started())

    def metrics(self) -> HttpResponse:
        families = [*self.kamailio_families(), *component_families(self.checks())]
        try:
            counts = self.state.agents.agent_state_counts()
            recording = [((), float(self.state.recordings.active_count()))]
        except Exception:  # Redis down: edge_redis_up says so; the rest of the scrape still helps
            counts, recording = {}, []
        families.append(metrics.Family(
            "edge_agents", "Agents by state per org", "gauge", ("org", "state"),
            tuple(((org, st), float(n)) for (org, st), n in sorted(counts.items())),
        ))
        families.append(metrics.Family("edge_recordings_active", "Call recordings running now (every node)",
                                       samples=tuple(recording)))
        families.append(recording_disk(self.settings.recordings_dir))
        families += self.queue_families()
        return HttpResponse(200, metrics.render(families).decode(), metrics.CONTENT_TYPE)

    def queue_families(self) -> list[Family]:
        """Calls waiting per queue and the longest wait so far (shared state: scrape time)."""
        waiting: list[tuple[tuple[str, ...], float]] = []
        longest: list[tuple[tuple[str, ...], float]] = []
        try:
            for org in self.state.directory.list_orgs():
                for service in self.state.directory.list_services(org.id):
                    if service.kind == "queue":
                        count, seconds = self.state.queues.waiting(org.id, service.ext)
                        waiting.append(((org.id, service.ext), float(count)))
                        longest.append(((org.id, service.ext), round(seconds, 3)))
        except Exception:  # Redis down: edge_redis_up says so
            waiting, longest = [], []
        return [
            Family("edge_queue_waiting", "Calls waiting in a queue for a free member", "gauge",
                           ("org", "queue"), tuple(waiting)),
            Family("edge_queue_longest_wait_seconds", "How long the longest-waiting call of a queue "
                           "has waited", "gauge", ("org", "queue"), tuple(longest)),
        ]

    def handle(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith("/v1/") or req.path == "/v1":
            if not token_ok(self.settings, req):
                return error(401, "missing or invalid bearer token", "Authorization")
            return unsupported_media(req) or self.api.dispatch(req)
        return self.open.dispatch(req)


def _no_sip(att_id: str, org: str) -> TransferRequest:
    return TransferRequest(Outcome.UNAVAILABLE, att_id, org)


def _no_supervision(org: str, ext: str, supervisor: str, mode: Feature) -> SupervisionRefusal:
    return SupervisionRefusal(503, "calls can only be placed from inside the edge")


def _no_media(att_id: str, action: Action) -> RecordingRefusal:
    return RecordingRefusal(503, "calls can only be recorded from inside the edge")


def recording_disk(path: Path) -> metrics.Family:
    """edge_recording_disk_free_ratio: the share of the recordings' file system still free."""
    try:
        fs = os.statvfs(path)
        samples: tuple[tuple[tuple[str, ...], float], ...] = (((), fs.f_bavail / fs.f_blocks if fs.f_blocks else 0.0),)
    except OSError:  # no recordings directory yet: nothing to report
        samples = ()
    return metrics.Family("edge_recording_disk_free_ratio", "Free share of the recordings' file system (0 to 1)",
                          samples=samples)


def component_families(checks: dict[str, Callable[[], bool]]) -> list[metrics.Family]:
    """edge_redis_up, edge_rtpengine_up: 1 when the component answers this scrape."""
    families = []
    for name, check in checks.items():
        try:
            up = bool(check())
        except Exception:
            up = False
        families.append(metrics.Family(f"edge_{name}_up", f"1 when {name} answers the edge", "gauge", (),
                                       (((), 1.0 if up else 0.0),)))
    return families
