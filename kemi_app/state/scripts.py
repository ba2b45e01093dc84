"""Lua scripts sent by their SHA1 (EVALSHA): Redis keeps a script's text once loaded, so a
request carries only the hash, never the text.

A restarted Redis, a failed-over primary or SCRIPT FLUSH forgets the texts: `execute` then
loads the scripts a pipeline missed and runs those calls again, in the pipeline's mode. In a
transaction the other commands were applied already (Redis runs the rest of a MULTI when one
command fails), so the retried scripts land just after them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

_KNOWN: dict[str, str] = {}  # sha -> text of every script made here


class Script:
    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        _KNOWN[self.sha] = text

    def queue(self, p: Pipeline, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queues a call of the script on `p`; send it with `execute`."""
        p.evalsha(self.sha, len(keys), *keys, *args)

    def call(self, client: redis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Runs the script on its own, loading it first if Redis lost it."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.text)
            return client.evalsha(self.sha, len(keys), *keys, *args)


def execute(p: Pipeline) -> list[Any]:
    """p.execute(), loading the scripts Redis had lost and running their calls again.
    Raises the first error, as p.execute() does."""
    commands = [args for args, _ in p.command_stack]
    results = p.execute(raise_on_error=False)
    lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError) and commands[i][1] in _KNOWN]
    if lost:
        for sha in dict.fromkeys(commands[i][1] for i in lost):
            p.script_load(_KNOWN[sha])
        for i in lost:
            p.execute_command(*commands[i])
        again = p.execute(raise_on_error=False)[-len(lost):]
        for i, result in zip(lost, again, strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
