"""A small least-recently-used cache bounded by bytes, safe across request threads.

Reading 10,000 steps x 500 layers through the data provider takes far longer
than shaping them, and the data only changes when TensorBoard loads new
events; so tables are kept under a key that includes the series' newest step
and wall time, and a reload with new events simply misses.

Example:
    >>> cache = ByteBudgetCache(max_bytes=100)
    >>> cache.get_or_load("a", lambda: b"x" * 60, size=len)
    b'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
    >>> _ = cache.get_or_load("b", lambda: b"y" * 60, size=len)
    >>> "a" in cache, "b" in cache
    (False, True)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ByteBudgetCache:
    """Keeps recently used values while their total size stays within ``max_bytes``.

    A value larger than the whole budget is returned but not kept. Two threads
    missing the same key at once may both load it; the cache stays consistent.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get_or_load(self, key: Hashable, load: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        """The cached value of ``key``, or ``load()`` (then kept if it fits)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
        value = load()
        nbytes = int(size(value))
        if nbytes <= self.max_bytes:
            with self._lock:
                self._put(key, value, nbytes)
        return value

    def _put(self, key: Hashable, value: Any, nbytes: int) -> None:
        if key in self._entries:
            self._bytes -= self._entries.pop(key)[1]
        self._entries[key] = (value, nbytes)
        self._bytes += nbytes
        while self._bytes > self.max_bytes:
            self._bytes -= self._entries.popitem(last=False)[1][1]
