"""The OpenAPI 3.1 document of the /v1 API, built from the same route table the router uses."""

from __future__ import annotations

import re
from typing import Any

from kemi_app.policy.company import DEFAULT_EMERGENCY
from kemi_app.policy.gateway import CODECS
from kemi_app.policy.service import KINDS

STRING_LIST = {"type": "array", "items": {"type": "string"}}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Org": {
        "type": "object",
        "required": ["domain"],
        "properties": {
            "domain": {"type": "string", "description": "SIP domain, also the agents' digest realm"},
            "name": {"type": "string"},
            "ivr_uri": {"type": "string", "description": "sip: URI of the org's IVR (transfers land there)"},
            "interorg_transfer_enabled": {"type": "boolean", "default": False},
        },
    },
    "Company": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "block_calls_during_pause": {
                "type": "boolean",
                "default": False,
                "description": "applies from each agent's next login",
            },
            "allowed_country_codes": {**STRING_LIST, "default": ["55"]},
            "default_country": {"type": "string", "default": "55"},
            "emergency_numbers": {**STRING_LIST, "default": list(DEFAULT_EMERGENCY)},
        },
    },
    "Agent": {
        "type": "object",
        "properties": {
            "password": {
                "type": "string",
                "minLength": 8,
                "writeOnly": True,
                "description": "required for a new agent; stored as HA1 only",
            },
            "ha1": {"type": "string", "writeOnly": True, "description": "MD5(ext:domain:password) instead of password"},
            "company": {"type": "string"},
            "display_name": {"type": "string"},
            "auto_answer": {"type": "boolean", "default": False},
            "dnd": {"type": "boolean", "default": False},
        },
    },
    "Service": {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"enum": list(KINDS)},
            "name": {"type": "string"},
            "target_uri": {"type": "string", "description": "required for ivr and conference"},
            "members": {**STRING_LIST, "description": "queue members (agent extensions)"},
            "ring_timeout": {"type": "integer", "default": 20, "minimum": 5, "maximum": 600},
        },
    },
    "Gateway": {
        "type": "object",
        "required": ["address"],
        "properties": {
            "address": {"type": "string", "examples": ["sip:203.0.113.5:5060"]},
            "priority": {"type": "integer", "default": 10, "description": "lowest is tried first"},
            "codecs": {"type": "array", "items": {"enum": list(CODECS)}, "default": ["PCMU", "PCMA"]},
        },
    },
    "Did": {
        "type": "object",
        "required": ["org", "service"],
        "properties": {
            "org": {"type": "string"},
            "service": {"type": "string", "description": "3-digit service extension"},
        },
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["available", "paused"]},
            "pause": {"type": "string", "examples": ["Break", "Restroom", "Training", "Meeting"]},
        },
    },
    "Dnd": {"type": "object", "required": ["dnd"], "properties": {"dnd": {"type": "boolean"}}},
    "TransferOrg": {
        "type": "object",
        "required": ["org"],
        "properties": {"org": {"type": "string", "description": "destination org id; must be linked"}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string", "description": "the offending field"}},
    },
}
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
    if route.method == "DELETE":
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
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
