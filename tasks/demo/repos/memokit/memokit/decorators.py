"""Caching a function's results in a memokit cache."""

from __future__ import annotations

import functools
from typing import Any, Callable, Hashable, MutableMapping, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MISSING = object()
_KWARGS_MARK = ("__kwargs__",)


def make_key(*args: Hashable, **kwargs: Hashable) -> tuple:
    """A hashable key for a call: positional arguments, then sorted keyword arguments.

    ``f(1, b=2)`` and ``f(1, 2)`` get different keys: the decorator does not know the
    function's signature, and caching them apart is never wrong.
    """
    if not kwargs:
        return args
    return args + _KWARGS_MARK + tuple(sorted(kwargs.items()))


def memoize(cache: MutableMapping, key: Callable[..., Hashable] = make_key) -> Callable[[F], F]:
    """Cache the decorated function's return values in ``cache``, keyed by ``key(*args, **kwargs)``.

    The wrapper exposes the cache as ``wrapper.cache`` and empties it with
    ``wrapper.cache_clear()``. Exceptions are not cached.
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key(*args, **kwargs)
            value = cache.get(k, _MISSING)
            if value is _MISSING:
                value = func(*args, **kwargs)
                cache[k] = value
            return value

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
