"""Every relayed initial INVITE takes the same steps in the same order (sip/relay.py)."""

from __future__ import annotations

import importlib
import json
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kemi_app.policy import dialog_token
from tests.unit import fake_ksr

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


@pytest.fixture
def ksr():
    fake = fake_ksr.install({"$cT": "application/sdp", "$rb": SDP, "$pr": "udp", "$ci": "call-1"})
    fake.answers["is_WSX"] = lambda: -1
    fake.answers["hdr.is_present"] = lambda name: -1
    fake.answers["nathelper.nat_uac_test"] = lambda flags: -1
    yield fake
    fake_ksr.uninstall()


def test_steps_run_in_one_fixed_order(ksr) -> None:
    relay = importlib.import_module("kemi_app.sip.relay")
    from kemi_app.policy.registration import Binding
    from kemi_app.settings import Settings
    from kemi_app.sip.attendances import Existing
    from kemi_app.sip.callstate import CALL_VAR, TX_AVP, CallRecord
    from kemi_app.sip.context import Context

    settings = Settings.from_env({})
    binding = Binding("sip:1002@127.0.0.1:5072", "sip:127.0.0.1:5072;transport=udp", "udp:127.0.0.1:5060",
                      settings.node_uri, 0.0, "c", 1)
    record = CallRecord(org="demo", kind="agent", agents=["1001", "1002"], answered_by="1002")
    call = relay.Call(record, relay.ToAgent([binding]), Existing("att-1"), headers=("X-Test: 1",),
                      announce_attendance=True)
    # Not a carrier's address: the call has no carrier side (sip/callerid.carrier_side).
    state = SimpleNamespace(lookups=SimpleNamespace(gateway_from=lambda ip, port: None))
    relay.relay_call(Context(settings, state=cast(Any, state)), call)

    names = ksr.names()
    steps = ["rr.record_route_params", "dialog.dlg_manage", "dialog.set_dlg_profile", "tm.t_on_failure",
             "tm.t_on_branch", "dialog.dlg_set_property", "hdr.append", "seturi", "tm.t_relay"]
    positions = [names.index(step) for step in steps]
    assert positions == sorted(positions), list(zip(steps, positions, strict=True))
    # The call state is stored before the INVITE leaves, and says what the handler decided.
    state_writes = [i for i, (path, args) in enumerate(ksr.calls)
                    if path == "pv.sets" and args[0] in (CALL_VAR, TX_AVP)]
    assert state_writes and max(state_writes) < names.index("tm.t_relay")
    stored = json.loads(ksr.pvs[CALL_VAR])
    assert (stored["attendance"], stored["agents"], stored["caller_leg"]) == ("att-1", ["1001", "1002"], "rtp")
    appended = [args[0] for path, args in ksr.calls if path == "hdr.append"]
    assert appended == ["X-Test: 1\r\n", "X-Edge-Attendance: att-1\r\n"]
    # The Record-Route is signed for this Call-ID: the dialog's later requests are let through.
    params = next(args[0] for path, args in ksr.calls if path == "rr.record_route_params")
    assert dialog_token.valid(settings.auth_secret, "call-1", f"<sip:127.0.0.1:5060;lr{params}>", time.time())


def _agent_call(ksr, nodes: list[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """KSR calls of an agent's call relayed to one device per node named ('' is this node)."""
    relay = importlib.import_module("kemi_app.sip.relay")
    from kemi_app.policy.registration import Binding
    from kemi_app.settings import Settings
    from kemi_app.sip.attendances import Existing
    from kemi_app.sip.callstate import CallRecord
    from kemi_app.sip.context import Context

    settings = Settings.from_env({"EDGE_MEDIA_ANCHOR_RTP": "1"})
    bindings = [Binding(f"sip:1002@127.0.0.1:{5072 + i}", f"sip:127.0.0.1:{5072 + i};transport=udp",
                        "udp:127.0.0.1:5060", node or settings.node_uri, 0.0, "c", 1) for i, node in enumerate(nodes)]
    call = relay.Call(CallRecord(org="demo", kind="agent", agents=["1001", "1002"]), relay.ToAgent(bindings),
                      Existing("att-1"), from_carrier=False)
    relay.relay_call(Context(settings, state=cast(Any, None)), call)
    return ksr.calls


def test_a_call_to_one_device_of_this_node_is_offered_without_a_branch_route(ksr) -> None:
    from kemi_app.sip.callstate import EXTRA_ID
    from kemi_app.sip.tmroutes import BRANCH_ROUTE

    calls = _agent_call(ksr, [""])
    names = [path for path, _ in calls]
    # The branch route prepare_initial armed is taken back: the one branch's offer is made before t_relay.
    assert [args for path, args in calls if path == "tm.t_on_branch"][-1] == ("",)
    assert names.index("rtpengine.rtpengine_offer") < names.index("tm.t_relay")
    assert ("pv.sets", (EXTRA_ID, "0")) in calls  # the index tm gives the R-URI's branch
    assert "via-branch=extra" in next(args[0] for path, args in calls if path == "rtpengine.rtpengine_offer")
    for nodes in (["", ""], ["sip:127.0.0.2:5060"]):  # forked, or handed to another node: per branch
        ksr.calls.clear()
        calls = _agent_call(ksr, nodes)
        assert [args for path, args in calls if path == "tm.t_on_branch"][-1] == (BRANCH_ROUTE,)
        assert "rtpengine.rtpengine_offer" not in [path for path, _ in calls]


def test_a_late_offer_to_a_browser_agent_needs_rtpengine_and_says_so_at_once() -> None:
    # No SDP in the INVITE, a browser callee: rtpengine will have to offer on its 200, so a
    # known-down rtpengine refuses the call before anything is relayed (503 Media Relay ...).
    fake_ksr.install({"$pr": "udp", "$ci": "call-2"})
    try:
        media = importlib.import_module("kemi_app.sip.media")
        from kemi_app.dependency import DependencyDown
        from kemi_app.settings import Settings
        from kemi_app.sip.callstate import CallRecord, Transaction
        from kemi_app.sip.context import Context

        ctx = Context(Settings.from_env({"EDGE_MEDIA_ANCHOR_RTP": "0"}), state=cast(Any, None))
        for _ in range(3):
            ctx.rtpengine.failed()
        record, tx = CallRecord(), Transaction()
        media.prepare_initial(ctx, record, tx, (), callee_webrtc=False)  # phone to phone: not needed
        assert tx.late_offer and record.caller_leg == "rtp"
        with pytest.raises(DependencyDown):
            media.prepare_initial(ctx, CallRecord(), Transaction(), (), callee_webrtc=True)
    finally:
        fake_ksr.uninstall()


@pytest.mark.parametrize(("pool", "selected"), [("127.0.0.1:2223", []), ("127.0.0.1:2223,127.0.0.1:2225", [(1,)])])
def test_a_bye_frees_its_media_on_its_rtpengine_and_selects_a_set_only_in_a_pool(pool, selected) -> None:
    # A pool of one has one set, the module's default: the BYE's delete selects nothing first.
    ksr = fake_ksr.install({"$rm": "BYE", "$ci": "call-3"})
    try:
        media = importlib.import_module("kemi_app.sip.media")
        from kemi_app.settings import Settings
        from kemi_app.sip.context import Context

        ctx = Context(Settings.from_env({"EDGE_RTPENGINE_NG": pool}), state=cast(Any, None))
        media.end_call(ctx, "call-3", media_set=len(ctx.settings.media_pool) - 1)
        names = ksr.names()
        assert [args for path, args in ksr.calls if path == "rtpengine.set_rtpengine_set"] == selected
        assert names.count("rtpengine.rtpengine_delete") == 1
        if selected:
            assert names.index("rtpengine.set_rtpengine_set") < names.index("rtpengine.rtpengine_delete")
    finally:
        fake_ksr.uninstall()
