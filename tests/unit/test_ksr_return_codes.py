"""KSR return values are compared, never used as truth values, and booleans only with `> 0`
(true) or `<= 0` (not true).

app_python3 hands KEMI booleans (`kamcmd app_python.api_list` says `ret: bool`: the core
functions such as is_INVITE, is_ACK, is_WSX, is_myself_ruri, and pv.*) to Python as bool, the
module functions as int (>0 true, <0 false, 0 stop). `KSR.is_ACK() < 0` is never true, and
`if KSR.tm.t_relay():` is true for -1.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KEMI_APP = Path(__file__).resolve().parents[2] / "kemi_app"
# Functions whose value the code may use as data, not as a return code.
VALUES = {"KSR.pv.get", "KSR.hdr.get", "KSR.hdr.get_idx", "KSR.htable.sht_get", "KSR.htable.sht_inc",
          "KSR.mqueue.mq_size"}


def returns_bool(name: str) -> bool:
    return name.count(".") == 1 or name.startswith("KSR.pv.") or name == "KSR.hdr.match_content"


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def ksr_call(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and dotted(node.func).startswith("KSR.") and dotted(node.func) not in VALUES:
        return dotted(node.func)
    return None


def misuses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and (name := ksr_call(node.left)):
            op, right = node.ops[0], node.comparators[0]
            is_zero = isinstance(right, ast.Constant) and right.value == 0
            allowed = (ast.Gt, ast.LtE) if returns_bool(name) else (ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq)
            if len(node.ops) != 1 or not is_zero or not isinstance(op, allowed):
                found.append((node.lineno, name))
        tests = []
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            tests = [node.test]
        elif isinstance(node, ast.BoolOp):
            tests = node.values
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            tests = [node.operand]
        found += [(t.lineno, name) for t in tests if (name := ksr_call(t))]
    return found


@pytest.mark.parametrize("path", sorted(KEMI_APP.rglob("*.py")), ids=lambda p: str(p.relative_to(KEMI_APP)))
def test_return_codes_are_compared_with_zero(path: Path) -> None:
    assert misuses(ast.parse(path.read_text())) == []


def test_the_check_catches_the_old_mistakes() -> None:
    old = "if KSR.is_ACK() < 0: pass\nif KSR.tm.t_relay(): pass\nx = not KSR.is_WSX()\nif KSR.is_INVITE() > 0: pass\n"
    assert sorted(line for line, _ in misuses(ast.parse(old + "y = KSR.tm.t_relay() < 0"))) == [1, 2, 3]
