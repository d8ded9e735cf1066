"""One attempt at a job, and its trajectory file.

The episode's thread writes the header and the steps; the footer is written once, by whoever
ends the attempt first: the episode itself, the job after an error of the environment, or the
run's stop (from the main thread, while the episode may be blocked in a model call or a
command). Every record is flushed as it is written, so a killed process loses at most the
record it was writing.

A file that an earlier attempt left (an interrupted one, one that failed) is not overwritten:
it is kept under `logs/superseded/` before the new attempt starts writing.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentenv.trajectory.model import StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder, read_trajectory_if_readable

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


class EpisodeInterrupted(Exception):
    """The run stopped while this episode was running; its trajectory says so."""


def keep_superseded(path: Path, folder: Path) -> Path | None:
    """Move an earlier attempt's trajectory out of the way (`folder/<stem>.<n>.jsonl`)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    number = 1
    while (folder / f"{path.stem}.{number}.jsonl").exists():
        number += 1
    target = folder / f"{path.stem}.{number}.jsonl"
    path.replace(target)
    return target


class Attempt:
    def __init__(self, path: Path, *, superseded_dir: Path | None = None) -> None:
        self.path = path
        self.superseded_dir = superseded_dir
        # Names this attempt's model charges in the run's spending ledger.
        self.id = secrets.token_hex(8)
        self.started = time.monotonic()
        self.steps = 0
        self.footer: TrajectoryFooter | None = None
        self.interrupted: str | None = None
        # What the episode has spent on models so far; set by the episode (the agent knows).
        self.cost: Callable[[], float] = lambda: 0.0
        self._recorder: Recorder | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._recorder is not None or self.footer is not None

    def open(self, header: TrajectoryHeader) -> None:
        with self._lock:
            if self.interrupted is not None:
                raise EpisodeInterrupted(self.interrupted)
            if self.superseded_dir is not None:
                kept = keep_superseded(self.path, self.superseded_dir)
                if kept is not None:
                    log.info("%s: the earlier attempt's trajectory is kept as %s", self.path.name, kept)
            self._recorder = Recorder(self.path)
            self._recorder.write(header)

    def record(self, step: StepRecord) -> None:
        with self._lock:
            if self._recorder is None:
                raise EpisodeInterrupted(self.interrupted or f"{self.path}: the trajectory is not open")
            self._recorder.write(step)
            self.steps += 1

    def finish(self, footer: TrajectoryFooter) -> bool:
        """Write the episode's own footer; False if the attempt was ended first (a stop)."""
        with self._lock:
            if self._recorder is None:
                return False
            self._write_footer(footer)
            return True

    def end(self, exit_status: str, error: str) -> TrajectoryFooter | None:
        """End an opened trajectory that has no footer yet, saying why; None if it was never
        opened or is already ended. Safe from any thread."""
        with self._lock:
            if exit_status == INTERRUPTED:
                self.interrupted = error
            if self._recorder is None:
                return None
            try:
                cost = float(self.cost())
            except Exception:  # the agent's tally must never stop a footer from being written
                log.warning("%s: could not read the episode's cost", self.path, exc_info=True)
                cost = 0.0
            footer = TrajectoryFooter(
                exit_status=exit_status,
                steps=self.steps,
                cost=cost,
                error=error,
                duration_s=time.monotonic() - self.started,
            )
            self._write_footer(footer)
            return footer

    def close(self) -> None:
        """Let go of the file without a footer (the trajectory stays unfinished)."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None

    def _write_footer(self, footer: TrajectoryFooter) -> None:
        assert self._recorder is not None
        try:
            self._recorder.write(footer)
        finally:
            self._recorder.close()
            self._recorder = None
        self.footer = footer


class InFlight:
    """The attempts running now, by job, so that a stop can end them from the main thread."""

    def __init__(self) -> None:
        self._attempts: dict[Attempt, Any] = {}
        self._lock = threading.Lock()

    @contextmanager
    def track(self, job: Any, attempt: Attempt) -> Iterator[Attempt]:
        with self._lock:
            self._attempts[attempt] = job
        try:
            yield attempt
        finally:
            with self._lock:
                self._attempts.pop(attempt, None)

    def interrupt_all(self, reason: str) -> list[tuple[Any, Attempt]]:
        """End every attempt in flight with an `interrupted` footer: (job, attempt) pairs."""
        with self._lock:
            running = list(self._attempts.items())
        for attempt, _ in running:
            attempt.end(INTERRUPTED, reason)
        return [(job, attempt) for attempt, job in running]


def end_unfinished(
    path: Path, exit_status: str, error: str, cost_of: Callable[[TrajectoryHeader], float]
) -> TrajectoryFooter | None:
    """Append a footer to a trajectory that another process left unfinished (a Ray actor that
    died or was killed); `cost_of(header)` is what that attempt spent. None when there is
    nothing to end: no file, a footer already, a broken file."""
    trajectory = read_trajectory_if_readable(path, "is left as it is")
    if trajectory is None or trajectory.footer is not None:
        return None
    started = datetime.fromisoformat(trajectory.header.started_at)
    footer = TrajectoryFooter(
        exit_status=exit_status,
        steps=len(trajectory.steps),
        cost=cost_of(trajectory.header),
        error=error,
        duration_s=(datetime.now(UTC) - started).total_seconds(),
    )
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(footer.model_dump_json() + "\n")
    return footer
