"""Which call records and media sessions outlived their dialog (a pure diff).

A dialog end whose Redis write failed (Redis down) leaves its agents "in-call" for a call
that no longer exists; an rtpengine delete that failed leaves a session behind. The edge
lists its records and sessions first and the dialog module's live dialogs after: whatever
was recorded before the listing and has no live dialog in it has ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CONFIRMED = 4  # dialog module state: answered
DELETED = 5  # dialog module state: terminated, only waiting to be freed


@dataclass(frozen=True)
class Dialog:
    call_id: str
    state: int


@dataclass(frozen=True)
class NodeCall:
    """One member of edge:nodecalls:{node}: "org|ext|call key" (the call key is the Call-ID)."""

    member: str
    org: str = ""  # empty for an unreadable member: only the member itself is removed
    ext: str = ""
    call_id: str = ""

    @classmethod
    def parse(cls, member: str) -> NodeCall:
        parts = member.split("|", 2)
        return cls(member, *parts) if len(parts) == 3 and all(parts) else cls(member)


def live_call_ids(dialogs: Iterable[Dialog]) -> set[str]:
    return {d.call_id for d in dialogs if d.state != DELETED}


def phantom_records(members: Iterable[str], dialogs: Iterable[Dialog]) -> list[NodeCall]:
    """Records of this node whose dialog is gone; unreadable members are phantoms too."""
    live = live_call_ids(dialogs)
    records = (NodeCall.parse(m) for m in members)
    return sorted((r for r in records if r.call_id not in live), key=lambda r: r.member)


def orphan_sessions(call_ids: Iterable[str], dialogs: Iterable[Dialog]) -> list[str]:
    """rtpengine sessions (by Call-ID) with no live dialog: every session the edge makes
    belongs to a dialog created before it (dlg_manage runs before the offer)."""
    live = live_call_ids(dialogs)
    return sorted(c for c in set(call_ids) if c not in live)
