"""A cheaper value for prometheus_client's multiprocess mode: the same per-process mmap files,
the same layout and keys (its MultiProcessCollector sums them at scrape time as before), with
less work per increment. Every SIP message records samples, so this is on the request path.

prometheus_client's own value takes a lock and calls a method that checks the pid and looks
the key's offset up, for every increment. Kamailio workers run no Python threads, so no lock;
a value keeps its offset in its process's file; the pid is compared once per increment, as
Kamailio forks its workers after the metrics exist. Each increment is written through to the
file at once: a worker that goes idle holds nothing back from a scrape.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key

_PACK = struct.Struct("d").pack
_files: dict[str, MmapedDict] = {}  # path -> the file; a path names its process


def _file(prefix: str, pid: int) -> MmapedDict:
    path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"{prefix}_{pid}.db")
    file = _files.get(path)
    if file is None:
        file = _files[path] = MmapedDict(path)
    return file


class MmapValue:
    """prometheus_client's values.ValueClass interface (multiprocess)."""

    _multiprocess = True

    def __init__(self, typ: str, metric_name: str, name: str, labelnames: Any, labelvalues: Any, help_text: str,
                 multiprocess_mode: str = "", **kwargs: Any) -> None:
        self._prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
        self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        self._attach(os.getpid())  # listed (at 0) from its creation, as prometheus_client does

    def _attach(self, pid: int) -> None:
        self._pid = pid
        self._dict = _file(self._prefix, pid)
        self._value: float = self._dict.read_value(self._key)  # adds the key to the file
        self._pos: int = self._dict._positions[self._key]

    def inc(self, amount: float) -> None:
        pid = os.getpid()
        if pid != self._pid:  # first sample in a forked worker: its own file, from 0 (as _mine,
            self._attach(pid)  # inline: the per-message path)
        self._write(self._value + amount)

    def set(self, value: float) -> None:
        self._mine()
        self._write(value)

    def _mine(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            self._attach(pid)

    def _write(self, value: float) -> None:
        self._value = value
        pos = self._pos
        # The file's map is replaced when it grows: read it each time. A slice assignment, as
        # prometheus_client writes, so a scrape never reads a half-written double.
        self._dict._m[pos:pos + 8] = _PACK(value)

    def set_exemplar(self, exemplar: Any) -> None:
        return

    def get(self) -> float:
        self._mine()
        return self._value

    def get_exemplar(self) -> None:
        return None
