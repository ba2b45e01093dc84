"""The OpenAPI 3.1 document of the /v1 API, built from the same route table the router uses."""

from __future__ import annotations

import re
from typing import Any

from kemi_app.provisioning.schemas import component_schemas

ERRORS = {
    "400": "invalid input: the error names the field",
    "401": "missing or invalid bearer token",
    "404": "not found",
    "409": "conflicts with what is stored",
}


def _operation(route: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "responses": {
            "200": {"description": "OK"},
            **{
                code: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in ERRORS.items()
            },
        },
    }
    if route.method == "PUT":
        op["responses"]["201"] = {"description": "created"}
    if route.forceable:
        op["parameters"] = [{"name": "force", "in": "query", "required": False, "schema": {"type": "boolean"}}]
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.body}"}}},
        }
    return op


def openapi_document(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        item = paths.setdefault(route.pattern, {})
        names = re.findall(r"{(\w+)}", route.pattern)
        if names:
            item["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
            ]
        item[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Agent Edge provisioning API", "version": "1"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
