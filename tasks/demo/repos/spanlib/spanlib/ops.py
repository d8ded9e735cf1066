"""Operations on collections of intervals."""

from __future__ import annotations

from typing import Iterable, List, Optional

from spanlib.interval import Interval, IntervalLike, Number


def merge(intervals: Iterable[IntervalLike], *, join_adjacent: bool = True) -> List[Interval]:
    """Sorted, pairwise disjoint intervals covering the same points as ``intervals``.

    Empty intervals are dropped. With ``join_adjacent`` (the default), intervals that only
    touch, such as ``[1, 3)`` and ``[3, 5)``, become one.
    """
    ordered = sorted(Interval.of(i) for i in intervals)
    merged: List[Interval] = []
    for current in ordered:
        if current.is_empty:
            continue
        if merged:
            last = merged[-1]
            if current.start < last.end or (join_adjacent and current.start == last.end):
                merged[-1] = Interval(last.start, current.end)
                continue
        merged.append(current)
    return merged


def total_length(intervals: Iterable[IntervalLike]) -> Number:
    """The length of the union of ``intervals`` (overlaps are counted once)."""
    return sum((i.length for i in merge(intervals)), 0)


def gaps(
    intervals: Iterable[IntervalLike], within: Optional[IntervalLike] = None
) -> List[Interval]:
    """The holes between ``intervals``, optionally bounded by ``within``.

    Without ``within`` only the holes between the first and the last interval are returned;
    with it, the uncovered parts at both of its ends count as well.
    """
    merged = merge(intervals)
    bounds = Interval.of(within) if within is not None else None
    if bounds is not None:
        merged = [part for part in (i.intersection(bounds) for i in merged) if part is not None]
        edges = [Interval(bounds.start, bounds.start), *merged, Interval(bounds.end, bounds.end)]
    else:
        edges = merged
    holes = []
    for left, right in zip(edges, edges[1:]):
        if left.end < right.start:
            holes.append(Interval(left.end, right.start))
    return holes


def intersect(first: Iterable[IntervalLike], second: Iterable[IntervalLike]) -> List[Interval]:
    """The points covered by both collections, as sorted disjoint intervals."""
    a, b = merge(first), merge(second)
    result: List[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        common = a[i].intersection(b[j])
        if common is not None:
            result.append(common)
        # Whichever ends first cannot overlap anything further along the other list.
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1
    return result
