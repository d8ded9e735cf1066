"""memokit: in-memory LRU and TTL caches, and a memoize decorator that uses them."""

from memokit.decorators import make_key, memoize
from memokit.lru import CacheInfo, LRUCache
from memokit.ttl import TTLCache

__all__ = ["CacheInfo", "LRUCache", "TTLCache", "make_key", "memoize"]
__version__ = "0.7.0"
