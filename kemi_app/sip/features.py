"""Feature requests (`*` + digits, kemi_app.policy.feature_codes): one handler per feature."""

from __future__ import annotations

from collections.abc import Callable

import KSR

from kemi_app.policy.dialplan import DestKind
from kemi_app.policy.feature_codes import Feature, FeatureRequest
from kemi_app.provisioning.org import Org
from kemi_app.sip import supervision
from kemi_app.sip.context import Context, refuse
from kemi_app.state import CallView

Handler = Callable[[Context, Org, str, FeatureRequest, CallView], None]

HANDLERS: dict[Feature, Handler] = {
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
