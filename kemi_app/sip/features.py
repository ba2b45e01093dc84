"""Feature requests (`*` + digits, kemi_app.policy.feature_codes): one handler per feature.

The agent's own codes (`*40` pause ... `*45`) change its state and answer at once with a
final response whose reason phrase says the outcome (policy.self_service). Reached before
the pause rule: a paused agent can unpause. Supervisors' codes (`*51` listen ... `*53`
barge) start supervision (kemi_app.sip.supervision)."""

from __future__ import annotations

import time
from collections.abc import Callable

import KSR

from kemi_app.policy import self_service as answers
from kemi_app.policy.dialplan import DestKind
from kemi_app.policy.feature_codes import Feature, FeatureRequest
from kemi_app.policy.pause import AgentStatus, paused_as
from kemi_app.provisioning.org import Org
from kemi_app.sip import supervision
from kemi_app.sip.context import Context, refuse
from kemi_app.state import CallView

KIND = DestKind.FEATURE.value

Handler = Callable[[Context, Org, str, FeatureRequest, CallView], None]
# An agent self-service action: the outcome to answer with.
Action = Callable[[Context, Org, str, FeatureRequest, CallView], answers.Answer]


def _answering(action: Action, takes_argument: bool = False) -> Handler:
    def handle(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> None:
        if request.argument and not takes_argument:
            answer = answers.UNKNOWN_CODE
        else:
            answer = action(ctx, org, user, request, view)
        refuse(org.id, KIND, answer.status, answer.reason, answer.headers)

    return handle


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


def _dnd(on: bool) -> Action:
    def act(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
        ctx.state.directory.set_dnd(org.id, user, on)
        return answers.switched("Do Not Disturb", on)

    return act


def _auto_answer(on: bool) -> Action:
    def act(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> answers.Answer:
        if not ctx.state.agents.set_session_auto_answer(org.id, user, on):
            return answers.NOT_LOGGED_IN
        return answers.switched("Auto-Answer", on)

    return act


HANDLERS: dict[Feature, Handler] = {
    Feature.PAUSE: _answering(_pause, takes_argument=True),
    Feature.UNPAUSE: _answering(_unpause),
    Feature.DND_ON: _answering(_dnd(True)),
    Feature.DND_OFF: _answering(_dnd(False)),
    Feature.AUTO_ANSWER_ON: _answering(_auto_answer(True)),
    Feature.AUTO_ANSWER_OFF: _answering(_auto_answer(False)),
    Feature.LISTEN: supervision.start,
    Feature.WHISPER: supervision.start,
    Feature.BARGE: supervision.start,
}


def handle_feature(ctx: Context, org: Org, user: str, request: FeatureRequest, view: CallView) -> None:
    """`user` (authenticated) asked for `request`; every feature is a call to the edge itself."""
    if KSR.is_INVITE() <= 0:
        refuse(org.id, DestKind.FEATURE.value, 405, "Feature Codes Are Dialled")
        return
    HANDLERS[request.feature](ctx, org, user, request, view)
