"""A pause-blocked INVITE's call view leaves the dialled agent unread on a hint of the org's
blocking companies; a hint that lagged a company change costs a second read, never a wrong
answer."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any, cast

from kemi_app.policy.pause import AgentStatus
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.company import Company
from kemi_app.provisioning.org import Org
from kemi_app.settings import Settings
from kemi_app.state.callview import AgentAuth, CallView
from tests.unit import fake_ksr


def test_a_lagging_hint_reads_the_callee_again_and_the_call_goes_on() -> None:
    fake_ksr.install({"$fd": "demo.test", "$au": "1001", "$rU": "1002", "$rd": "demo.test", "$si": "127.0.0.9",
                      "$rm": "INVITE", "$ci": "call-1"})
    try:
        calls = importlib.import_module("kemi_app.sip.calls")
        from kemi_app.sip.context import Context

        paused = AgentStatus(paused=True, pause="Break")
        base = dict(auth=AgentAuth("0" * 32, 0), caller=Agent(ext="1001", ha1="0" * 32, company="sales"), status=paused,
                    session=None, org_version="2", gateways_version="0")
        unread, read = CallView(**base, callee_read=False), CallView(**base, callee=Agent(ext="1002", ha1="1" * 32))
        views: list[dict[str, Any]] = []

        def call_view(*args: Any, **kwargs: Any) -> CallView:
            views.append(kwargs)
            return unread if len(views) == 1 else read

        # The worker's hint still says "sales" blocks; the org's version 2 says it no longer does.
        lookups = SimpleNamespace(org_by_domain=lambda domain: Org("demo", "demo.test", "Demo"),
                                  blocking_companies=lambda org: ["sales"],
                                  company_of=lambda org, company, version: Company(id="sales", name="Sales"))
        ctx = Context(Settings.from_env({}), state=cast(Any, SimpleNamespace(
            lookups=lookups, call_views=SimpleNamespace(call_view=call_view))))
        to_agent: list[CallView] = []
        calls._to_agent = lambda ctx, org, user, dest, view: to_agent.append(view)
        calls.handle_initial(ctx)
    finally:
        fake_ksr.uninstall()
    assert views == [{"refusable": True, "blocking_companies": ["sales"]}, {}]
    assert to_agent == [read]
