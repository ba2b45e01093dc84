"""Attendances: one customer's contact with the centre, kept through transfers and conferences.

An attendance is created when a call first enters the edge and every later leg (transfer,
conference) is linked to it. Its history is a list of events, in order.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

ORIGINS = ("queue", "direct", "outbound", "transfer")
DIRECTIONS = ("inbound", "outbound", "internal")

# Event names recorded in the history stream.
START, RING, ANSWER, END = "start", "ring", "answer", "end"
TRANSFER, CONFERENCE, REFUSED, OFFER, OVERFLOW = "transfer", "conference", "refused", "offer", "overflow"
AGENT_GONE = "agent-gone"
SUPERVISION_START, SUPERVISION_STOP = "supervision-start", "supervision-stop"
MEDIA_LOST = "media-lost"  # the rtpengine holding the call's media died; the call was ended
WAIT = "wait"  # a queue call waits for a free member; result abandoned or timeout when it ends so


_JSON_STR = json.encoder.encode_basestring_ascii  # what json.dumps makes of a str, in C


def new_attendance_id(now: float | None = None) -> str:
    """Sortable by creation time, unguessable."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"att-{ms:012x}-{secrets.token_hex(6)}"


def is_attendance_id(value: str) -> bool:
    parts = value.split("-")
    return (
        len(parts) == 3
        and parts[0] == "att"
        and all(c in "0123456789abcdef" for c in parts[1] + parts[2])
        and len(parts[1]) == 12
        and len(parts[2]) == 12
    )


@dataclass(frozen=True)
class Attendance:
    id: str
    org: str
    origin: str
    direction: str
    created_at: float
    queue: str = ""
    entered_through_queue: bool = False
    interorg_transferred: bool = False
    transferred: bool = False  # an agent transferred it before (inside the org too)
    customer_call: str = ""  # Call-ID of the customer's current leg (inter-org transfer by API)
    transferred_from: str = ""  # the other org's attendance this one continues (inter-org transfer)
    transferred_to: str = ""  # the other org's attendance that continues this one
    legs: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, str]:
        """Flat strings for a Redis hash (legs are stored apart); empty ones are left out,
        as every attendance keeps its hash for the retention period."""
        data = _shallow(self)
        data.pop("legs")
        return {k: ("1" if v is True else "0" if v is False else str(v)) for k, v in data.items() if v != ""}

    @classmethod
    def from_record(cls, data: dict[str, str], legs: list[str]) -> Attendance:
        return cls(
            id=data["id"], org=data["org"], origin=data["origin"], direction=data["direction"],
            created_at=float(data["created_at"]), queue=data.get("queue", ""),
            entered_through_queue=data.get("entered_through_queue") == "1",
            interorg_transferred=data.get("interorg_transferred") == "1",
            transferred=data.get("transferred") == "1",
            customer_call=data.get("customer_call", ""),
            transferred_from=data.get("transferred_from", ""), transferred_to=data.get("transferred_to", ""),
            legs=sorted(legs),
        )


@dataclass(frozen=True)
class Event:
    """One history entry. `actor` did it (an agent ext, 'customer', 'api'), `target` received it."""

    attendance: str
    event: str
    at: float
    org: str
    actor: str = ""
    target: str = ""
    result: str = ""
    reason: str = ""
    call_id: str = ""
    detail: str = ""

    def to_fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in _shallow(self).items() if v not in ("", None)}

    def compact_tail(self) -> str:
        """The event as stored in its attendance's hash: a JSON array, trailing empty values
        dropped, without its first element (the leg, which the store fills in) nor the
        attendance (the key names it). This is the tail of that array, from its first comma."""
        return _tail(self.event, round(self.at, 3), [self.org, self.actor, self.target, self.result, self.reason,
                                                     self.detail])

    @classmethod
    def from_compact(cls, attendance: str, stored: str, legs: list[str]) -> Event:
        """Reads what compact_tail stored, its first element being the index of its leg in
        `legs`, or the Call-ID itself when it is no leg, or null."""
        leg, event, at, *rest = json.loads(stored)
        call_id = legs[leg] if isinstance(leg, int) and 0 <= leg < len(legs) else leg or ""
        org, actor, target, result, reason, detail = [*rest, "", "", "", "", "", ""][:6]
        return cls(attendance, event, float(at), org, actor, target, result, reason, call_id, detail)

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Event:
        return cls(
            attendance=data["attendance"], event=data["event"], at=float(data["at"]), org=data.get("org", ""),
            actor=data.get("actor", ""), target=data.get("target", ""), result=data.get("result", ""),
            reason=data.get("reason", ""), call_id=data.get("call_id", ""), detail=data.get("detail", ""),
        )


def _tail(event: str, at: float, rest: list[str]) -> str:
    """json.dumps([event, at, *rest], separators=(",", ":"))[1:] without the trailing empty
    strings, joined here: an encoder call per event costs more than the event's other work."""
    while rest and rest[-1] == "":
        rest.pop()
    return ",".join([_JSON_STR(event), repr(at), *map(_JSON_STR, rest)]) + "]"


def refusal_written(att_id: str, at: float, org: str, call_id: str, actor: str, target: str, rule: str,
                    reason: str) -> list[list[object]]:
    """The start, refused and end events of a call refused before it went anywhere, each as a
    history write carries an event: [call_id, compact_tail(), to_fields() flattened]; built
    without an Event apiece, as every refused attempt pays this (tests/unit pins them equal)."""
    ms, head = round(at, 3), ["attendance", att_id]
    rest = ["at", str(at), *(["org", org] if org else []), *(["actor", actor] if actor else [])]
    leg = ["call_id", call_id] if call_id else []
    aimed = ["target", target] if target else []
    return [
        [call_id, _tail(START, ms, [org, actor, target]), [*head, "event", START, *rest, *aimed, *leg]],
        [call_id, _tail(REFUSED, ms, [org, actor, target, rule, reason]),
         [*head, "event", REFUSED, *rest, *aimed, *(["result", rule] if rule else []),
          *(["reason", reason] if reason else []), *leg]],
        [call_id, _tail(END, ms, [org, actor, "", "refused"]),
         [*head, "event", END, *rest, "result", "refused", *leg]],
    ]


def _shallow(record: Attendance | Event) -> dict[str, object]:
    """Its fields by name, in order: asdict() without its deep copies (every write pays them);
    a dataclass instance's own dictionary holds exactly its fields, in that order."""
    return dict(vars(record))


def in_message_order(events: list[Event]) -> list[Event]:
    """The history in the order its SIP messages came. A phone that answers at once sends its
    180 and 200 back to back, and two SIP workers may write them at the same moment: an answer
    written just before the same leg's ring is put back after it."""
    out = list(events)
    for i in range(len(out) - 1):
        first, second = out[i], out[i + 1]
        if (first.event, second.event) == (ANSWER, RING) and first.call_id == second.call_id \
                and (first.target or first.actor) == (second.target or second.actor):
            out[i], out[i + 1] = second, first
    return out
