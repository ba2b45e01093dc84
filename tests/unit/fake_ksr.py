"""A stand-in for Kamailio's KSR module in unit tests of the SIP layer's control flow: every
call is recorded as ("path.to.function", args); pseudo-variables read from `pvs`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class _Node:
    def __init__(self, root: FakeKSR, path: str) -> None:
        self._root, self._path = root, path

    def __getattr__(self, name: str) -> _Node:
        return _Node(self._root, f"{self._path}.{name}" if self._path else name)

    def __call__(self, *args: Any) -> Any:
        return self._root.called(self._path, args)


class FakeKSR(_Node):
    def __init__(self, pvs: dict[str, str] | None = None) -> None:
        super().__init__(self, "")
        self.pvs: dict[str, str] = dict(pvs or {})
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: dict[str, Callable[..., Any]] = {}

    def called(self, path: str, args: tuple[Any, ...]) -> Any:
        self.calls.append((path, args))
        if path == "pv.get":
            return self.pvs.get(args[0])
        if path == "pv.sets":
            self.pvs[args[0]] = args[1]
        if path == "pv.unset":
            self.pvs.pop(args[0], None)
        answer = self.answers.get(path)
        return answer(*args) if answer else 1

    def names(self) -> list[str]:
        return [path for path, _ in self.calls]


def install(pvs: dict[str, str] | None = None) -> FakeKSR:
    """Puts a fresh fake in place of KSR; the SIP layer is imported anew so it binds to it."""
    uninstall()
    fake = FakeKSR(pvs)
    sys.modules["KSR"] = fake
    return fake


def uninstall() -> None:
    for name in [n for n in sys.modules if n == "KSR" or n.startswith("kemi_app.sip")]:
        del sys.modules[name]
