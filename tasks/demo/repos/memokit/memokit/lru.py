"""A bounded mapping that forgets its least recently used entry first."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable, Iterator, MutableMapping, NamedTuple


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class LRUCache(MutableMapping):
    """A mapping of at most ``maxsize`` entries.

    Reading (``cache[key]``, :meth:`get`) or writing an entry makes it the most recently
    used; when a write would exceed ``maxsize`` the least recently used entry is evicted.
    :meth:`peek` and ``in`` look without touching the order.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: "OrderedDict[Hashable, Any]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __getitem__(self, key: Hashable) -> Any:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = value
        while len(self._data) > self.maxsize:
            self.popitem()

    def __delitem__(self, key: Hashable) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # Mapping's default views would read through __getitem__ and reorder the entries while
    # iterating over them; these are snapshots that leave the order alone.
    def keys(self) -> list:  # type: ignore[override]
        return list(self)

    def values(self) -> list:  # type: ignore[override]
        return [self._data[key] for key in self]

    def items(self) -> list:  # type: ignore[override]
        return [(key, self._data[key]) for key in self]

    def popitem(self) -> tuple:
        """Remove and return the least recently used ``(key, value)`` pair."""
        try:
            key = next(iter(self._data))
        except StopIteration:
            raise KeyError(f"{type(self).__name__} is empty") from None
        value = self._data[key]
        del self[key]
        return key, value

    def get(self, key: Hashable, default: Any = None) -> Any:
        """``cache[key]`` if present (a hit), else ``default`` (a miss)."""
        try:
            value = self[key]
        except KeyError:
            self.misses += 1
            return default
        self.hits += 1
        return value

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value for ``key`` without marking it as used or counting a hit."""
        return self._data[key] if key in self else default

    def clear(self) -> None:
        self._data.clear()
        self.hits = self.misses = 0

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.maxsize, len(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(maxsize={self.maxsize}, currsize={len(self)})"
