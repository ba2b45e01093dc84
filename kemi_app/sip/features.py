"""Feature codes dialled by agents (`*40` pause ... `*45`): change the agent's own state and
answer at once with a final response whose reason phrase says the outcome
(kemi_app.policy.self_service). Reached before the pause rule: a paused agent can unpause."""

from __future__ import annotations

import time
from collections.abc import Callable

from kemi_app.policy import self_service as answers
from kemi_app.policy.feature_codes import Feature, FeatureRequest
from kemi_app.policy.pause import AgentStatus, paused_as
from kemi_app.provisioning.org import Org
from kemi_app.sip.context import Context, refuse
from kemi_app.state import CallView

KIND = "feature"

Handler = Callable[[Context, Org, str, FeatureRequest, CallView], answers.Answer]


def _pause(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
    company = ctx.state.lookups.company_of(org.id, view.caller.company if view.caller else "", view.org_version)
    pause = answers.choose_pause(company.pause_types, request.argument)
    if isinstance(pause, answers.Answer):
        return pause
    ctx.state.agents.set_status(org.id, user, paused_as(pause, time.time()))
    return answers.paused(pause)


def _unpause(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
    ctx.state.agents.set_status(org.id, user, AgentStatus(paused=False, since=time.time()))
    return answers.AVAILABLE


def _dnd(on: bool) -> Handler:
    def handle(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
        ctx.state.directory.set_dnd(org.id, user, on)
        return answers.switched("Do Not Disturb", on)

    return handle


def _auto_answer(on: bool) -> Handler:
    def handle(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
        if not ctx.state.agents.set_session_auto_answer(org.id, user, on):
            return answers.NOT_LOGGED_IN
        return answers.switched("Auto-Answer", on)

    return handle


HANDLERS: dict[Feature, Handler] = {
    Feature.PAUSE: _pause,
    Feature.UNPAUSE: _unpause,
    Feature.DND_ON: _dnd(True),
    Feature.DND_OFF: _dnd(False),
    Feature.AUTO_ANSWER_ON: _auto_answer(True),
    Feature.AUTO_ANSWER_OFF: _auto_answer(False),
}
TAKES_ARGUMENT = frozenset({Feature.PAUSE})


def handle_feature(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> None:
    """Answers the request (authenticated as `user`) with the feature's outcome."""
    if request.argument and request.feature not in TAKES_ARGUMENT:
        answer = answers.UNKNOWN_CODE
    else:
        answer = HANDLERS[request.feature](ctx, org, user, request, view)
    refuse(org.id, KIND, answer.status, answer.reason, answer.headers)
