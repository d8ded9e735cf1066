import pytest

from memokit import CacheInfo, LRUCache


def test_rejects_nonpositive_maxsize():
    with pytest.raises(ValueError):
        LRUCache(0)


def test_evicts_least_recently_used():
    cache = LRUCache(2)
    cache["a"] = 1
    cache["b"] = 2
    cache["c"] = 3
    assert list(cache) == ["b", "c"]
    assert "a" not in cache


def test_reading_makes_an_entry_recent():
    cache = LRUCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache["a"] == 1
    cache["c"] = 3
    assert sorted(cache) == ["a", "c"]


def test_overwriting_keeps_size_and_makes_recent():
    cache = LRUCache(2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    cache["c"] = 3
    assert dict(cache.items()) == {"a": 10, "c": 3}


def test_peek_does_not_touch_order():
    cache = LRUCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.peek("a") == 1
    assert cache.peek("zzz", "dflt") == "dflt"
    cache["c"] = 3
    assert "a" not in cache


def test_get_counts_hits_and_misses():
    cache = LRUCache(4)
    cache["x"] = 1
    assert cache.get("x") == 1
    assert cache.get("y", 0) == 0
    assert cache.info() == CacheInfo(hits=1, misses=1, maxsize=4, currsize=1)
    cache.clear()
    assert cache.info() == CacheInfo(0, 0, 4, 0)


def test_popitem_and_delete():
    cache = LRUCache(3)
    cache.update({"a": 1, "b": 2})
    assert cache.popitem() == ("a", 1)
    del cache["b"]
    assert len(cache) == 0
    with pytest.raises(KeyError):
        cache.popitem()
