"""Money a run may spend on models, shared by every episode of the run.

A budget is charged after each model call and checked before the next one starts, so a run
stops spending once its limit is reached (the call in flight may overshoot it by its own
cost, never more).
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable


@runtime_checkable
class Budget(Protocol):
    def charge(self, cost: float) -> None: ...

    def spent(self) -> float: ...

    def exceeded(self) -> bool: ...


class SharedBudget:
    """A budget for the episodes of one process (threads)."""

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit = limit
        self._spent = spent
        self._lock = threading.Lock()

    def charge(self, cost: float) -> None:
        with self._lock:
            self._spent += cost

    def spent(self) -> float:
        with self._lock:
            return self._spent

    def exceeded(self) -> bool:
        return self.limit is not None and self.spent() >= self.limit
