"""spanlib: half-open numeric intervals, merging, gaps, intersections and interval sets."""

from spanlib.interval import Interval
from spanlib.intervalset import IntervalSet
from spanlib.ops import gaps, intersect, merge, total_length

__all__ = ["Interval", "IntervalSet", "gaps", "intersect", "merge", "total_length"]
__version__ = "0.3.2"
