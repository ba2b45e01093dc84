"""Each provisioning entity is declared once: its JSON Schema and its validation agree."""

from __future__ import annotations

import pytest

from kemi_app.extensions import Shape, shape
from kemi_app.provisioning.errors import ValidationError
from kemi_app.provisioning.fields import REQUIRED
from kemi_app.provisioning.schemas import ENTITIES, component_schemas

# The smallest valid body of each entity, and the path key it is parsed with.
MINIMAL = {
    "Org": ("acme", {"domain": "acme.test"}),
    "Company": ("sales", {}),
    "Agent": ("1001", {"password": "secret-pw"}),
    "Service": ("300", {"kind": "queue"}),
    "Gateway": ("gw1", {"address": "sip:127.0.0.1:5080"}),
    "Did": ("+5511999990000", {"org": "acme", "service": "300"}),
    "Status": ("", {"status": "available"}),
    "Dnd": ("", {"dnd": True}),
    "TransferOrg": ("", {"org": "acme"}),
    "Supervise": ("", {"supervisor": "1090", "mode": "listen"}),
    "RecordingRequest": ("", {"action": "start"}),
}


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_schema_lists_exactly_the_accepted_fields(entity) -> None:
    key, body = MINIMAL[entity.name]
    schema = entity.json_schema()
    assert set(schema.get("required", [])) <= set(body)
    entity.parse(body, key)  # the minimal body is valid
    for name in schema["properties"]:
        with pytest.raises(ValidationError) as err:  # a known field whose value is checked
            entity.parse({**body, name: {"not": "valid"}}, key)
        assert err.value.field == name and err.value.message != "unknown field"
    with pytest.raises(ValidationError) as err:
        entity.parse({**body, "surprise": 1}, key)
    assert (err.value.field, err.value.message) == ("surprise", "unknown field")


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_schema_defaults_are_what_parsing_gives(entity) -> None:
    key, body = MINIMAL[entity.name]
    parsed = entity.parse(body, key)
    for f in entity.fields:
        if f.name not in body and f.default is not REQUIRED and f.derived is None:
            assert parsed[f.name] == f.default
            if f.default not in ("", None):
                assert entity.json_schema()["properties"][f.name]["default"] == f.default


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_each_required_field_is_named_when_missing(entity) -> None:
    key, body = MINIMAL[entity.name]
    for name in entity.json_schema().get("required", []):
        with pytest.raises(ValidationError) as err:
            entity.parse({k: v for k, v in body.items() if k != name}, key)
        assert err.value.field == name


def test_every_entity_has_a_component_schema() -> None:
    schemas = component_schemas()
    assert {e.name for e in ENTITIES} | {"Error"} == set(schemas)
    assert schemas["Agent"]["properties"]["password"]["writeOnly"] is True


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [("300", Shape.SERVICE), ("1001", Shape.AGENT), ("10010", Shape.AGENT), ("12", Shape.OTHER),
     ("100100", Shape.OTHER), ("+300", Shape.OTHER), ("３００", Shape.OTHER), ("", Shape.OTHER)],
)
def test_dial_plan_shape(dialled: str, expected: Shape) -> None:
    assert shape(dialled) is expected
