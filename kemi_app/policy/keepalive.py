"""Which legs of a call get in-dialog OPTIONS keepalives (the dialog module's `ka-src` to the
caller, `ka-dst` to the callee), so a call whose endpoint vanished without a BYE ends, and its
agents stop being in-call, on every kind of call: agent, queue, carrier, IVR, transfer."""

from __future__ import annotations

TO_CALLER, TO_CALLEE = "ka-src", "ka-dst"


def keepalives(caller_ws: bool, callee_ws: bool | None) -> tuple[str, ...]:
    """The dialog module cannot reach WebSocket contacts (*.invalid): those legs are ended by
    the connection's close instead (sip/vanish.py). `callee_ws` is None while the callee is not
    known (a queue call before a member answers): decided again on the answer."""
    sides = () if caller_ws else (TO_CALLER,)
    return sides if callee_ws in (True, None) else (*sides, TO_CALLEE)
