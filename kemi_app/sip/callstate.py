"""The per-call state the SIP layer keeps inside Kamailio, declared once.

Two scopes, one typed record each, stored as JSON (safe for any provisioned text):

- `CallRecord`, one dialog variable (`$dlg_var(call)`): lives as long as the dialog, read by
  in-dialog requests, replies and dialog events on any worker of this node.
- `Transaction`, one AVP (`$avp(edge_tx)`): what the branch, reply and failure routes of one
  INVITE transaction need (queue offers, gateway failover, the media offer being answered).

rtpengine reads the branch key from its own AVP (`EXTRA_ID`, named in kamailio.cfg), agents
on a call join the dialog profile `AGENT_PROFILE`, and a call with media joins
`MEDIA_PROFILE` with the pool index of its rtpengine. No other module names a dialog
variable, AVP or profile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import KSR

from kemi_app.sip.context import pv

CALL_VAR = "$dlg_var(call)"
TX_AVP = "$avp(edge_tx)"
EXTRA_ID = "$avp(extra_id)"  # kamailio.cfg: modparam rtpengine extra_id_pv, one session per branch
AGENT_PROFILE = "agent"  # kamailio.cfg: dialog profiles_with_value; value org:ext (see agent_key)
MEDIA_PROFILE = "media"  # kamailio.cfg: dialog profiles_with_value; value the rtpengine's pool index
NO_MEDIA = -1  # media_set of a call whose rtpengine is not known (no SDP, or an older record)
# kamailio.cfg: modparam uac auth_*_avp, set only for the uac_auth call that answers a challenge
UAC_AUTH_USER, UAC_AUTH_PASSWORD, UAC_AUTH_REALM = "$avp(uac_user)", "$avp(uac_password)", "$avp(uac_realm)"

def agent_key(org_id: str, ext: str) -> str:
    return f"{org_id}:{ext}"


def _decode(raw: str, known: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields still declared: fields a record lacks (an older edge wrote it) take
    their defaults, fields no longer declared are dropped."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return {}
    if data.keys() <= known.keys():  # what this edge wrote: taken as it is
        return data
    return {k: data[k] for k in known if k in data}


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=vars)  # what json.dumps would build per call


def _store(name: str, record: Any) -> None:
    """Written only when changed: reply routes run for every provisional reply. The records'
    own attribute dictionaries, in field order (nested records through `vars`): what
    dataclasses.asdict gives, without its deep copy."""
    encoded = _ENCODER.encode(vars(record))
    if encoded != pv(name):
        if name == TX_AVP:  # an AVP assignment adds a value on top; keep exactly one
            KSR.pv.unset(name)  # (a dialog variable's assignment replaces its value)
        KSR.pv.sets(name, encoded)


@dataclass
class CallRecord:
    org: str = ""
    kind: str = ""  # what was dialled: agent, service, external, emergency, inbound, transfer
    agents: list[str] = field(default_factory=list)  # extensions of org in-call while it lasts
    attendance: str = ""
    answered_by: str = ""  # the agent, service or number that answers (history, REFER actor)
    # media: rtpengine anchors the call; leg kinds and codecs of caller and callee
    anchored: bool = False
    caller_leg: str = ""
    callee_leg: str = ""
    caller_codecs: list[str] = field(default_factory=list)
    callee_codecs: list[str] = field(default_factory=list)
    moh_listener: str = ""  # tag of the party hearing music on hold
    record_rule: str = ""  # an automatic rule records the call from its answer (policy/recording)
    media_set: int = NO_MEDIA  # pool index of the rtpengine holding its media, for its whole life
    carrier_side: str = ""  # "caller" or "callee": the leg that is a carrier (topology hiding, masking)
    answer_in_ack: bool = False  # late offer: the callee's 2xx offered, the caller's ACKs answer
    org_transfer: str = ""  # this leg completes the API's inter-org transfer of that attendance
    over: bool = False  # its end was handled (a vanished agent's call: before the BYE it sends)
    handover: bool = False  # delivered for another node, which anchors it (tracked only to drain)

    @classmethod
    def load(cls) -> CallRecord:
        return cls(**_decode(pv(CALL_VAR), cls.__dataclass_fields__))

    @staticmethod
    def plain() -> bool:
        """Neither a carrier leg nor a late-offer answer due in the ACK: all a plain ACK or BYE
        would read of the record. Told from its text, undecoded (_ENCODER writes those fields
        so at their defaults; a record written otherwise is not plain)."""
        raw = pv(CALL_VAR)
        return '"carrier_side":""' in raw and '"answer_in_ack":false' in raw

    def save(self) -> None:
        _store(CALL_VAR, self)


def handed_over(dialog: dict) -> bool:
    """Is this dialog (as dlg.dlg_list lists it) one this node only delivers for another node?"""
    tags = [dialog.get(side, {}).get("tag", "") for side in ("caller", "callee")]
    if KSR.dialog.dlg_get(dialog.get("call-id", ""), *tags) <= 0:
        return False
    return CallRecord.load().handover


@dataclass
class QueueCall:
    org: str
    ext: str
    name: str
    ring_seconds: int
    overflow_uri: str
    max_wait: int = 0
    service_level: int = 20


@dataclass
class GatewayAttempt:
    uri: str
    codecs: list[str]
    gateway: str = ""  # its id: credentials are looked up when it challenges


@dataclass
class Transaction:
    # media: the offer this transaction carries
    offerer: str = ""  # leg kind of the party whose offer this is
    initial: bool = False  # the initial INVITE (per-branch sessions) rather than a re-offer
    callee_codecs: list[str] = field(default_factory=list)  # codecs allowed toward the callee
    moh: str = ""  # "play" or "stop" when the re-INVITE is answered
    media_set: int = NO_MEDIA  # pool index of the rtpengine this offer goes to
    late_offer: bool = False  # an initial INVITE without SDP: its 2xx carries the offer
    # history
    rang: str = ""  # who was last recorded ringing
    # queues
    queue: QueueCall | None = None
    offer_attendance: str = ""  # the attendance being offered
    offered: str = ""  # the member ringing now
    tried: list[str] = field(default_factory=list)
    auto_answer: bool = False  # the member ringing now wants auto-answer
    queued_at: float = 0.0  # when the call entered the queue (service level)
    waiting_since: float = 0.0  # when the call started waiting (0: never waited)
    parked: bool = False  # the branch out now is the parking one (sip/queues.py)
    music: str = ""  # tag of the caller hearing waiting music
    # carriers: the gateways still to try, the one being tried and whether it got credentials
    gateways: list[GatewayAttempt] = field(default_factory=list)
    trying: GatewayAttempt | None = None
    authenticated: bool = False
    # the caller is a carrier (CallRecord.carrier_side): only then does the branch route need
    # the call record, to mask the customer's number
    customer_caller: bool = False

    def __post_init__(self) -> None:
        # Nested records come back from JSON as dictionaries.
        if isinstance(self.queue, dict):
            self.queue = QueueCall(**self.queue)
        self.gateways = [GatewayAttempt(**g) if isinstance(g, dict) else g for g in self.gateways]
        if isinstance(self.trying, dict):
            self.trying = GatewayAttempt(**self.trying)

    @classmethod
    def load(cls) -> Transaction:
        return cls(**_decode(pv(TX_AVP), cls.__dataclass_fields__))

    def save(self) -> None:
        _store(TX_AVP, self)
