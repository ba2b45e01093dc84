"""The Redis protocol's framing of one command, for the connection class (state/guard.py).

redis-py's own `pack_command` grows its buffer with a join per argument and checks every
argument's type through its Encoder: about three times the Python work, for each of the
commands every SIP event sends. The bytes on the wire are the same; only arguments that
are neither str nor bytes go through the Encoder (numbers, and the errors it raises).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.connection import Encoder


def pack(encoder: Encoder, args: Sequence[Any]) -> list[bytes]:
    """One buffer: `*<n>` then `$<len>` and the bytes of each argument. A command name with
    spaces (`CONFIG GET`) is sent as separate arguments, as redis-py does."""
    name = args[0]
    items: list[Any] = name.encode().split() if isinstance(name, str) else name.split() if b" " in name else [name]
    encoding, errors = encoder.encoding, encoder.encoding_errors
    for arg in args[1:]:
        kind = type(arg)
        items.append(arg.encode(encoding, errors) if kind is str else arg if kind is bytes else encoder.encode(arg))
    out = [b"*%d\r\n" % len(items)]
    for item in items:
        out += (b"$%d\r\n" % len(item), item, b"\r\n")
    return [b"".join(out)]
