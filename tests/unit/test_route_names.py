"""Every tm route or event callback the code names must exist on EdgeRoutes: a missing one
leaves an exception set inside app_python3 and breaks later KSR calls."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SIP = Path(__file__).resolve().parents[2] / "kemi_app" / "sip"
CFG = Path(__file__).resolve().parents[2] / "kamailio" / "kamailio.cfg"


def edge_routes_methods() -> set[str]:
    tree = ast.parse((SIP / "routes.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EdgeRoutes")
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def named_routes() -> set[str]:
    names: set[str] = set()
    for path in SIP.glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r't_on_(?:failure|branch|reply)\("(\w+)"\)', text))
        names |= set(re.findall(r'^\w+_ROUTE = "(\w+)"', text, re.M))
    names |= set(re.findall(r'"event_callback", "(\w+)"', CFG.read_text()))
    names |= set(re.findall(r'"exec", "timer=\w+;route=(\w+)"', CFG.read_text()))  # rtimer
    return names


def test_every_named_route_is_a_method() -> None:
    names = named_routes()
    assert {"ksr_gateway_failure", "ksr_dialog_event", "ksr_vanished_timer", "ksr_reconcile"} <= names
    assert names - edge_routes_methods() == set()
