"""An LRU cache whose entries also expire a fixed time after they were stored."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional

from memokit.lru import LRUCache


class TTLCache(LRUCache):
    """An :class:`LRUCache` in which every entry lives for ``ttl`` seconds.

    The clock starts when an entry is stored; storing the key again restarts it. Reading an
    entry does not extend its life, so a value is never served more than ``ttl`` seconds after
    it was computed. Expired entries are dropped lazily: when they are looked up, on every
    write, and by :meth:`expire`.

    ``timer`` returns the current time in seconds (default :func:`time.monotonic`).
    """

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        super().__init__(maxsize)
        self.ttl = ttl
        self.timer = timer
        self._deadlines: Dict[Hashable, float] = {}

    def _expired(self, key: Hashable, now: Optional[float] = None) -> bool:
        deadline = self._deadlines.get(key)
        if deadline is None:
            return False
        return (self.timer() if now is None else now) >= deadline

    def __getitem__(self, key: Hashable) -> Any:
        if self._expired(key):
            del self[key]
            raise KeyError(key)
        value = super().__getitem__(key)
        # Entries that are still being used stay cached.
        self._deadlines[key] = self.timer() + self.ttl
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        now = self.timer()
        self.expire(now)
        super().__setitem__(key, value)
        self._deadlines[key] = now + self.ttl

    def __delitem__(self, key: Hashable) -> None:
        super().__delitem__(key)
        self._deadlines.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) and not self._expired(key)

    def __iter__(self) -> Iterator[Hashable]:
        now = self.timer()
        return iter([key for key in self._data if not self._expired(key, now)])

    def __len__(self) -> int:
        now = self.timer()
        return sum(1 for key in self._data if not self._expired(key, now))

    def peek(self, key: Hashable, default: Any = None) -> Any:
        return default if self._expired(key) else super().peek(key, default)

    def time_to_live(self, key: Hashable) -> float:
        """Seconds until ``key`` expires (``KeyError`` if it is absent or already expired)."""
        if key not in self:
            raise KeyError(key)
        return self._deadlines[key] - self.timer()

    def expire(self, now: Optional[float] = None) -> List[Hashable]:
        """Remove every expired entry and return their keys, least recently used first."""
        now = self.timer() if now is None else now
        gone = [key for key in self._data if self._expired(key, now)]
        for key in gone:
            del self[key]
        return gone

    def clear(self) -> None:
        super().clear()
        self._deadlines.clear()
