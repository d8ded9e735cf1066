"""A mutable set of numbers, stored as sorted disjoint intervals."""

from __future__ import annotations

import bisect
from typing import Iterable, Iterator, List

from spanlib.interval import Interval, IntervalLike, Number
from spanlib.ops import gaps, intersect, merge


class IntervalSet:
    """The union of some half-open intervals, kept merged.

    Iterating yields the disjoint intervals in order; ``x in s`` tests a point.
    """

    def __init__(self, intervals: Iterable[IntervalLike] = ()) -> None:
        self._items: List[Interval] = merge(intervals)

    def add(self, interval: IntervalLike) -> None:
        """Add every point of ``interval``."""
        self._items = merge([*self._items, Interval.of(interval)])

    def discard(self, interval: IntervalLike) -> None:
        """Remove every point of ``interval`` (points not in the set are ignored)."""
        cut = Interval.of(interval)
        kept: List[Interval] = []
        for item in self._items:
            if not item.overlaps(cut):
                kept.append(item)
                continue
            if item.start < cut.start:
                kept.append(Interval(item.start, cut.start))
            if cut.end < item.end:
                kept.append(Interval(cut.end, item.end))
        self._items = kept

    def __contains__(self, point: object) -> bool:
        index = bisect.bisect_right([i.start for i in self._items], point) - 1
        return index >= 0 and point in self._items[index]

    def __iter__(self) -> Iterator[Interval]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._items == other._items

    def __or__(self, other: "IntervalSet") -> "IntervalSet":
        return IntervalSet([*self._items, *other._items])

    def __and__(self, other: "IntervalSet") -> "IntervalSet":
        return IntervalSet(intersect(self._items, other._items))

    def total_length(self) -> Number:
        return sum((i.length for i in self._items), 0)

    def gaps(self) -> List[Interval]:
        return gaps(self._items)

    def __repr__(self) -> str:
        return f"IntervalSet([{', '.join(str(i) for i in self._items)}])"
