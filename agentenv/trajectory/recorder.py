"""Writing and reading trajectory files, one record per line, flushed as it happens."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO

from pydantic import BaseModel, TypeAdapter, ValidationError

from agentenv.files import describe_validation
from agentenv.trajectory.model import (
    StepRecord,
    TrajectoryFooter,
    TrajectoryHeader,
    TrajectoryRecord,
)

_RECORD = TypeAdapter(TrajectoryRecord)


log = logging.getLogger(__name__)


class TrajectoryError(ValueError):
    """A trajectory file or record is malformed; the message names file, line and field."""


class Recorder:
    """Appends records to a trajectory file. Each record is flushed before `write` returns,
    so a killed process loses at most the step it was in the middle of."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh episode replaces whatever an unfinished earlier attempt left.
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")
        self._fsync = fsync

    def write(self, record: BaseModel) -> None:
        if self._file is None:
            raise TrajectoryError(f"{self.path}: the recorder is closed")
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Trajectory(BaseModel):
    header: TrajectoryHeader
    steps: list[StepRecord]
    footer: TrajectoryFooter | None

    @property
    def finished(self) -> bool:
        return self.footer is not None


def read_trajectory_if_readable(path: Path, otherwise: str) -> Trajectory | None:
    """The trajectory at `path`, or None when there is no file or it cannot be read (logged
    with `otherwise`: what happens to it instead)."""
    if not path.exists():
        return None
    try:
        return read_trajectory(path)
    except TrajectoryError as exc:
        log.warning("%s %s: %s", path, otherwise, exc)
        return None


def read_trajectory(path: str | Path) -> Trajectory:
    """Load and validate a trajectory file."""
    path = Path(path)
    header: TrajectoryHeader | None = None
    steps: list[StepRecord] = []
    footer: TrajectoryFooter | None = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrajectoryError(f"{path}: cannot be read: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _RECORD.validate_python(json.loads(line))
        except json.JSONDecodeError as exc:
            raise TrajectoryError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        except ValidationError as exc:
            raise TrajectoryError(f"{path}:{number}: {describe_validation(exc)}") from None
        if isinstance(record, TrajectoryHeader):
            if header is not None or steps:
                raise TrajectoryError(f"{path}:{number}: a header may only be the first record")
            header = record
        elif header is None:
            raise TrajectoryError(f"{path}:{number}: the first record must be the header")
        elif footer is not None:
            raise TrajectoryError(f"{path}:{number}: a record after the footer")
        elif isinstance(record, StepRecord):
            if record.index != len(steps):
                raise TrajectoryError(f"{path}:{number}: step index {record.index}, expected {len(steps)}")
            steps.append(record)
        else:
            footer = record
    if header is None:
        raise TrajectoryError(f"{path}: empty, no header")
    return Trajectory(header=header, steps=steps, footer=footer)
