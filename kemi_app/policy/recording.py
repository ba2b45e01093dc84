"""Call recording decisions: who may start one, the per-call limit, the automatic rules.

A recording belongs to an attendance and names the call (Call-ID) it records. Its life:
recording -> stopped (the media is final) -> ready (audio files written) or failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from enum import Enum

from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.service import Service

MAX_PER_CALL = 2

RECORDING, STOPPED, READY, FAILED = "recording", "stopped", "ready", "failed"

# Why a recording stopped when nobody asked: the call ended, the agent transferred it.
CALL_ENDED, TRANSFERRED = "call ended", "transfer"


class Action(str, Enum):
    START = "start"
    STOP = "stop"


@dataclass(frozen=True)
class Recording:
    n: int  # 1 or 2: its place in the attendance
    call_id: str
    started_at: float
    started_by: str  # an agent's extension, 'api' or 'rule'
    start_reason: str
    state: str = RECORDING
    stopped_at: float = 0.0
    stopped_by: str = ""
    stop_reason: str = ""
    file: str = ""  # the mixed audio (WAV); per-party files are listed in `parties`
    parties: tuple[str, ...] = ()
    duration: float = 0.0  # seconds of audio
    size: int = 0  # bytes of every file together

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Recording:
        data = json.loads(raw)
        data["parties"] = tuple(data.get("parties", ()))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def stopped(self, at: float, by: str, reason: str) -> Recording:
        return replace(self, state=STOPPED, stopped_at=at, stopped_by=by, stop_reason=reason)


@dataclass(frozen=True)
class Refusal:
    status: int  # SIP and HTTP agree on these: 404, 409
    reason: str  # a SIP reason phrase, also the API's error text


NO_CALL = Refusal(404, "No Call In Progress")
ALREADY = Refusal(409, "Already Recording")
LIMIT = Refusal(409, f"At Most {MAX_PER_CALL} Recordings Per Call")
NOT_RECORDING = Refusal(409, "Not Recording")


def start_refusal(existing: list[Recording], call_id: str) -> Refusal | None:
    """A call is recorded once at a time, and at most MAX_PER_CALL times in all."""
    if any(r.state == RECORDING and r.call_id == call_id for r in existing):
        return ALREADY
    if len(existing) >= MAX_PER_CALL:
        return LIMIT
    return None


def to_stop(existing: list[Recording], call_id: str) -> list[Recording]:
    """The recordings of `call_id` still running ('' : of any call)."""
    return [r for r in existing if r.state == RECORDING and (not call_id or r.call_id == call_id)]


def parse_action(value: str) -> Action | None:
    """'start'/'stop', also 'on'/'off' as SIP phones send them in an INFO's Record header."""
    word = value.strip().lower()
    if word in ("start", "on"):
        return Action.START
    if word in ("stop", "off"):
        return Action.STOP
    return None


def automatic_reason(agents: Iterable[Agent | None], queue: Service | None = None,
                     gateway: Gateway | None = None) -> str:
    """Why a new call is recorded from its answer on ('' : it is not), from the rules of the
    agents on it, the queue it enters and the carrier gateway it leaves by (the first tried).
    The queue's rule is named first, then the gateway's, then the agents'."""
    if queue is not None and queue.record_calls:
        return f"queue {queue.ext}"
    if gateway is not None and gateway.record_calls:
        return f"gateway {gateway.id}"
    recorded = [a.ext for a in agents if a is not None and a.record_calls]
    return "agent " + ",".join(recorded) if recorded else ""
