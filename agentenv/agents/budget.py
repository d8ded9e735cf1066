"""Money a run may spend on models, shared by every episode of the run.

A budget is charged after each model call and checked before the next one starts, so a run
stops spending once its limit is reached (the call in flight may overshoot it by its own
cost, never more). A run's budget names who spent what (`charge(cost, trajectory_id,
attempt_id)`) and may log each charge (the run's spending ledger); an agent sees an `Account`
of it, which only knows `charge(cost)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Budget(Protocol):
    def charge(self, cost: float) -> None: ...

    def spent(self) -> float: ...

    def exceeded(self) -> bool: ...


@runtime_checkable
class RunBudget(Protocol):
    def charge(self, cost: float, trajectory_id: str = "", attempt_id: str = "") -> None: ...

    def spent(self) -> float: ...

    def exceeded(self) -> bool: ...


ChargeLog = Callable[[float, str, str], None]


class SharedBudget:
    """A budget for the episodes of one process (threads); `log(cost, trajectory_id,
    attempt_id)` hears of every charge, under the budget's lock (so in order)."""

    def __init__(self, limit: float | None, spent: float = 0.0, *, log: ChargeLog | None = None) -> None:
        self.limit = limit
        self._spent = spent
        self._log = log
        self._lock = threading.Lock()

    def charge(self, cost: float, trajectory_id: str = "", attempt_id: str = "") -> None:
        with self._lock:
            self._spent += cost
            if self._log is not None:
                self._log(cost, trajectory_id, attempt_id)

    def spent(self) -> float:
        with self._lock:
            return self._spent

    def exceeded(self) -> bool:
        return self.limit is not None and self.spent() >= self.limit


class Account:
    """The run's budget as one attempt of one episode uses it."""

    def __init__(self, budget: RunBudget, trajectory_id: str, attempt_id: str) -> None:
        self.budget = budget
        self.trajectory_id = trajectory_id
        self.attempt_id = attempt_id

    def charge(self, cost: float) -> None:
        self.budget.charge(cost, self.trajectory_id, self.attempt_id)

    def spent(self) -> float:
        return self.budget.spent()

    def exceeded(self) -> bool:
        return self.budget.exceeded()
