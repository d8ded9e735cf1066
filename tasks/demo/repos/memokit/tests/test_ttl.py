import pytest

from memokit import TTLCache


def test_rejects_nonpositive_ttl(clock):
    with pytest.raises(ValueError):
        TTLCache(4, ttl=0, timer=clock)


def test_entry_expires_after_ttl(clock):
    cache = TTLCache(4, ttl=10, timer=clock)
    cache["a"] = 1
    clock.advance(9.5)
    assert "a" in cache
    clock.advance(0.5)
    assert "a" not in cache
    assert cache.get("a") is None
    with pytest.raises(KeyError):
        cache["a"]


def test_storing_again_restarts_the_clock(clock):
    cache = TTLCache(4, ttl=10, timer=clock)
    cache["a"] = 1
    clock.advance(8)
    cache["a"] = 2
    clock.advance(8)
    assert cache.peek("a") == 2
    assert cache.time_to_live("a") == pytest.approx(2)


def test_expire_removes_and_reports_expired_keys(clock):
    cache = TTLCache(4, ttl=10, timer=clock)
    cache["a"] = 1
    clock.advance(5)
    cache["b"] = 2
    clock.advance(6)
    assert len(cache) == 1
    assert cache.expire() == ["a"]
    assert list(cache) == ["b"]


def test_lru_eviction_still_applies(clock):
    cache = TTLCache(2, ttl=100, timer=clock)
    cache["a"] = 1
    cache["b"] = 2
    cache["c"] = 3
    assert sorted(cache) == ["b", "c"]


def test_time_to_live_of_missing_key(clock):
    cache = TTLCache(2, ttl=5, timer=clock)
    with pytest.raises(KeyError):
        cache.time_to_live("nope")
