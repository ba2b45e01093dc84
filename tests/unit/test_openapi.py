"""The served OpenAPI document matches the routes the API really has."""

from __future__ import annotations

import re

from kemi_app.admin.api import ProvisioningApi
from kemi_app.admin.openapi import openapi_document
from kemi_app.admin.router import Router


def document() -> tuple[dict, list]:
    api = ProvisioningApi(state=None)  # type: ignore[arg-type]
    api.register(Router())
    return openapi_document(api.routes), api.routes


def test_every_route_is_documented_with_its_path_parameters() -> None:
    doc, routes = document()
    for route in routes:
        item = doc["paths"][route.pattern]
        assert route.method.lower() in item
        declared = {p["name"] for p in item.get("parameters", [])}
        assert declared == set(re.findall(r"{(\w+)}", route.pattern))


def test_every_reference_resolves() -> None:
    doc, _ = document()
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', __import__("json").dumps(doc))
    assert refs and set(refs) <= set(doc["components"]["schemas"])


def test_writes_document_their_body_and_errors() -> None:
    doc, routes = document()
    for route in routes:
        op = doc["paths"][route.pattern][route.method.lower()]
        assert {"400", "401", "404", "409"} <= set(op["responses"])
        if route.method == "PUT" and "{" in route.pattern and route.pattern.count("/") > 2:
            assert "requestBody" in op or route.pattern.endswith("{target}"), route.pattern


def test_force_is_documented_only_where_a_delete_honours_it() -> None:
    doc, routes = document()
    for route in routes:
        op = doc["paths"][route.pattern][route.method.lower()]
        documented = any(p["name"] == "force" for p in op.get("parameters", []))
        assert documented == route.forceable, route.pattern
    assert any(r.forceable for r in routes)
