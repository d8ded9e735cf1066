"""What the benchmarks share: where the demo tasks are, timing a call, printing a table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

DEMO_TASKS = Path(__file__).resolve().parent.parent / "tasks" / "demo"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """The median time of `repeat` calls of `fn`, in milliseconds, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def print_rows(rows: list[tuple[str, float, str]], note_header: str) -> None:
    """`measure | median ms | note` rows, aligned."""
    width = max(len(name) for name, *_ in rows)
    print(f"{'measure':<{width}}  {'median ms':>10}  {note_header}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10.2f}  {note}")
