"""What an agent's own feature codes answer. A feature code sets up no call, so every answer
is final and non-2xx (a 2xx would need SDP and a dialog the edge does not have):

- done: `603` with the new state as reason phrase (`603 Paused: Lunch`, `603 Available`,
  `603 Do Not Disturb On`, ...). 6xx is a global answer, so no client or proxy tries the code
  elsewhere, and the class alone tells "done" from "refused"; softphones show the phrase
  (JsSIP and SIP.js hand it to the page with the status code, desk phones display it).
- refused: a 4xx saying why (`404 Unknown Pause Type`, `403 Not Logged In`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from kemi_app.policy.pause import PAUSE_HEADER, PauseType, pause_by_code

DONE = 603


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: tuple[str, ...] = ()


UNKNOWN_CODE = Answer(404, "Unknown Feature Code")
UNKNOWN_PAUSE = Answer(404, "Unknown Pause Type")
NOT_LOGGED_IN = Answer(403, "Not Logged In")
AVAILABLE = Answer(DONE, "Available")


def paused(pause: PauseType) -> Answer:
    return Answer(DONE, f"Paused: {pause.name}", (f"{PAUSE_HEADER}: {pause.name}",))


def switched(what: str, on: bool) -> Answer:
    return Answer(DONE, f"{what} {'On' if on else 'Off'}")


def choose_pause(types: list[PauseType], argument: str) -> PauseType | Answer:
    """The pause `*40<argument>` asks for, or the refusal to answer."""
    if len(argument) > 1:
        return UNKNOWN_CODE
    return pause_by_code(types, argument) or UNKNOWN_PAUSE
