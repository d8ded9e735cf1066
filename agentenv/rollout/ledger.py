"""The run's spending ledger (`<run_dir>/spending.ndjson`): one record per model call, appended
and flushed when the call is charged.

A trajectory's footer says what its episode spent, but a resumed run rewrites the trajectories
of the episodes it runs again (their old files are kept aside), and an episode killed in the
middle of a model call never writes a footer. The ledger keeps every charge of every attempt,
so the run's cost limit holds across interruptions, retries and resumes.

The extension is not `.jsonl` on purpose: exports and `traj ls` read every `*.jsonl` of a run
folder as a trajectory.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentenv.files import describe_validation
from agentenv.trajectory.model import now
from agentenv.trajectory.recorder import TrajectoryError, read_trajectory

log = logging.getLogger(__name__)

LEDGER_FILE = "spending.ndjson"
LEDGER_SCHEMA_VERSION = 1
# The account of spending recorded before the run folder had a ledger (read from trajectories).
CARRIED_OVER = "carried-over"


class LedgerError(ValueError):
    """The ledger is malformed; the message names the file, the line and the field."""


class Charge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = LEDGER_SCHEMA_VERSION
    trajectory_id: str
    # The attempt that spent it (a trajectory's header names its attempt).
    attempt_id: str
    cost: float = Field(ge=0)
    at: str = Field(default_factory=now)


def read_ledger(path: Path) -> list[Charge]:
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LedgerError(f"{path}: cannot be read: {exc.strerror}") from exc
    lines = text.split("\n")
    charges = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            charges.append(Charge.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            if number == len(lines):
                # A last line without its newline: the writer was killed in the middle of it.
                log.warning("%s:%d: an unfinished last record is left out", path, number)
                continue
            detail = f"not valid JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else describe_validation(exc)
            raise LedgerError(f"{path}:{number}: {detail}") from None
    return charges


def total(charges: Iterable[Charge]) -> float:
    return sum(charge.cost for charge in charges)


class SpendingLedger:
    """Appends charges to the ledger file; one writer per run (a process, or the Ray budget
    actor), so records never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def append(self, cost: float, trajectory_id: str, attempt_id: str) -> None:
        record = Charge(trajectory_id=trajectory_id, attempt_id=attempt_id, cost=cost)
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(record.model_dump_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def carry_over(run_dir: Path, trajectories: Iterable[Path]) -> None:
    """Start the ledger of a run folder that has none (made before ledgers existed) with what
    its trajectories recorded: a footer's cost, or an unfinished one's steps' model calls."""
    path = run_dir / LEDGER_FILE
    if path.exists():
        return
    ledger = SpendingLedger(path)
    try:
        for trajectory_path in trajectories:
            if not trajectory_path.exists():
                continue
            try:
                trajectory = read_trajectory(trajectory_path)
            except TrajectoryError as exc:
                log.warning("%s: its spending is not known: %s", trajectory_path, exc)
                continue
            if trajectory.footer is not None:
                cost = trajectory.footer.cost
            else:
                cost = sum(step.model_call.cost for step in trajectory.steps if step.model_call is not None)
            if cost > 0:
                ledger.append(cost, trajectory.header.trajectory_id, CARRIED_OVER)
    finally:
        ledger.close()
    path.touch()  # the ledger exists from now on: this is done once per run folder
