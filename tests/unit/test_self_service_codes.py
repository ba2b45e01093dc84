"""The agent's own feature codes (*40-*45): parsing, and what they answer."""

from __future__ import annotations

import pytest

from kemi_app.extensions import Shape, shape
from kemi_app.policy import self_service
from kemi_app.policy.dialplan import DestKind, classify
from kemi_app.policy.feature_codes import CODES, Feature, FeatureRequest, parse
from kemi_app.policy.pause import PAUSE_HEADER, PauseType
from kemi_app.policy.session import auto_answer
from kemi_app.provisioning.company import DEFAULT_COMPANY
from tests.unit import fake_ksr


@pytest.mark.parametrize(
    ("dialled", "request_"),
    [("*40", FeatureRequest(Feature.PAUSE, "")), ("*402", FeatureRequest(Feature.PAUSE, "2")),
     ("*41", FeatureRequest(Feature.UNPAUSE, "")), ("*42", FeatureRequest(Feature.DND_ON, "")),
     ("*43", FeatureRequest(Feature.DND_OFF, "")), ("*44", FeatureRequest(Feature.AUTO_ANSWER_ON, "")),
     ("*45", FeatureRequest(Feature.AUTO_ANSWER_OFF, "")), ("*4123", FeatureRequest(Feature.UNPAUSE, "23")),
     ("*4", None), ("*", None), ("*99", None), ("40", None), ("*4a", None), ("**40", None), ("*٤٠", None),
     ("1001", None)],
)
def test_parse(dialled: str, request_: FeatureRequest | None) -> None:
    assert parse(dialled) == request_


def test_the_longest_code_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CODES, "4", Feature.DND_ON)
    assert parse("*41") == FeatureRequest(Feature.UNPAUSE, "")
    assert parse("*47") == FeatureRequest(Feature.DND_ON, "7")


def test_feature_codes_have_their_own_shape_and_destination() -> None:
    assert shape("*40") is Shape.FEATURE and shape("*") is Shape.OTHER
    assert classify("*99", DEFAULT_COMPANY).kind is DestKind.FEATURE


TYPES = [PauseType("1", "Lunch", blocks_calls=False), PauseType("2", "Break")]


@pytest.mark.parametrize(
    ("types", "argument", "expected"),
    [(TYPES, "", TYPES[0]), (TYPES, "2", TYPES[1]), (TYPES, "3", self_service.UNKNOWN_PAUSE),
     (TYPES, "12", self_service.UNKNOWN_CODE), ([], "", PauseType("", "Pause")), ([], "1", self_service.UNKNOWN_PAUSE)],
)
def test_choose_pause(types: list[PauseType], argument: str, expected: object) -> None:
    assert self_service.choose_pause(types, argument) == expected


def test_done_is_a_global_final_answer_naming_the_new_state() -> None:
    answer = self_service.paused(TYPES[0])
    assert (answer.status, answer.reason, answer.headers) == (603, "Paused: Lunch", (f"{PAUSE_HEADER}: Lunch",))
    assert self_service.switched("Do Not Disturb", True).reason == "Do Not Disturb On"
    assert self_service.AVAILABLE.status == 603
    refusals = (self_service.UNKNOWN_CODE, self_service.UNKNOWN_PAUSE, self_service.NOT_LOGGED_IN)
    assert all(400 <= a.status < 500 for a in refusals)


@pytest.mark.parametrize(("provisioned", "chosen", "expected"),
                         [(False, None, False), (True, None, True), (True, False, False), (False, True, True)])
def test_auto_answer_for_the_session_wins_over_the_provisioned_setting(
    provisioned: bool, chosen: bool | None, expected: bool
) -> None:
    assert auto_answer(provisioned, chosen) is expected


def test_every_feature_has_a_handler() -> None:
    fake_ksr.install()
    try:
        from kemi_app.sip.features import HANDLERS

        assert set(HANDLERS) == set(Feature)
    finally:
        fake_ksr.uninstall()
