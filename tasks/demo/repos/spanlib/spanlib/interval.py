"""The :class:`Interval` value type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

Number = Union[int, float]
IntervalLike = Union["Interval", Tuple[Number, Number]]


@dataclass(frozen=True, order=True)
class Interval:
    """The half-open interval ``[start, end)``: it holds ``start`` but not ``end``.

    Intervals order by ``start``, then ``end``. An interval with ``start == end`` is empty.
    """

    start: Number
    end: Number

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"interval end {self.end!r} is before its start {self.start!r}")

    @classmethod
    def of(cls, value: IntervalLike) -> "Interval":
        """Accept an :class:`Interval` or a ``(start, end)`` pair."""
        if isinstance(value, Interval):
            return value
        start, end = value
        return cls(start, end)

    @property
    def length(self) -> Number:
        return self.end - self.start

    @property
    def is_empty(self) -> bool:
        return self.start == self.end

    def __contains__(self, point: object) -> bool:
        return self.start <= point < self.end  # type: ignore[operator]

    def overlaps(self, other: "Interval") -> bool:
        """True when the two intervals share at least one point."""
        return self.start < other.end and other.start < self.end

    def touches(self, other: "Interval") -> bool:
        """True when one interval ends exactly where the other starts."""
        return self.end == other.start or other.end == self.start

    def intersection(self, other: "Interval") -> Optional["Interval"]:
        """The common part of the two intervals, or ``None`` when they do not overlap."""
        if not self.overlaps(other):
            return None
        return Interval(max(self.start, other.start), min(self.end, other.end))

    def shift(self, offset: Number) -> "Interval":
        return Interval(self.start + offset, self.end + offset)

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"
