"""Finding the trajectories of run folders."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agentenv.trajectory.recorder import Trajectory, TrajectoryError, read_trajectory

log = logging.getLogger(__name__)
# Files in a run folder that are not trajectories.
NOT_TRAJECTORIES = {"predictions.jsonl"}


class ExportError(ValueError):
    """The export cannot be made; the message says which file or record is the problem."""


@dataclass
class Collected:
    trajectories: list[tuple[Path, Trajectory]]
    unfinished: list[Path]
    invalid: list[str]


def trajectory_files(run_dir: Path) -> list[Path]:
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: not a run folder")
    return sorted(
        path
        for path in run_dir.rglob("*.jsonl")
        if path.name not in NOT_TRAJECTORIES and "logs" not in path.relative_to(run_dir).parts
    )


def collect(run_dirs: list[Path], *, only_resolved: bool = False, skip_invalid: bool = False) -> Collected:
    """Every finished trajectory of the run folders (unfinished ones are counted, not used)."""
    found: list[tuple[Path, Trajectory]] = []
    unfinished: list[Path] = []
    invalid: list[str] = []
    for run_dir in run_dirs:
        for path in trajectory_files(run_dir):
            try:
                trajectory = read_trajectory(path)
            except TrajectoryError as exc:
                if not skip_invalid:
                    raise ExportError(f"{exc} (pass --skip-invalid to leave such files out)") from None
                invalid.append(str(exc))
                continue
            if trajectory.footer is None:
                unfinished.append(path)
                continue
            if only_resolved and not trajectory.footer.resolved:
                continue
            found.append((path, trajectory))
    return Collected(trajectories=found, unfinished=unfinished, invalid=invalid)
