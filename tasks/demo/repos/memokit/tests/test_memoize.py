from memokit import LRUCache, make_key, memoize


def test_memoize_caches_results():
    calls = []

    @memoize(LRUCache(8))
    def square(x):
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    assert square.cache.info().hits == 1
    square.cache_clear()
    square(3)
    assert calls == [3, 4, 3]


def test_keyword_arguments_are_part_of_the_key():
    assert make_key(1, 2) != make_key(1, b=2)
    assert make_key(a=1, b=2) == make_key(b=2, a=1)


def test_exceptions_are_not_cached():
    attempts = []

    @memoize(LRUCache(2))
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return "ok"

    try:
        flaky()
    except RuntimeError:
        pass
    assert flaky() == "ok"
    assert len(attempts) == 2
