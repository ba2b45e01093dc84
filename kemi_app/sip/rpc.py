"""Kamailio RPC commands from Python (jsonrpcs), for what KEMI exports no function for."""

from __future__ import annotations

import json
from typing import Any

import KSR


class RpcError(RuntimeError):
    pass


def call(method: str, *params: object) -> Any:
    """The JSON result of the command, as Kamailio gives it."""
    request = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    if KSR.jsonrpcs.exec(request) < 0:
        raise RpcError(f"{method}: exec failed")
    raw = KSR.pv.get("$jsonrpl(body)")
    answer = json.loads(raw) if raw else {}
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error']}")
    return answer.get("result")
