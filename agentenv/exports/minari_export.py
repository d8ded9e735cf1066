"""Trajectories as a Minari dataset (`minari.load_dataset` opens it).

One Minari episode per trajectory: observations are the initial observation and one per step
(steps + 1 of them), actions one per step, then rewards, terminations and truncations as
recorded. An episode whose last step carries neither flag (a killed run without a footer, or
an agent that stopped by error or cost limit) is marked truncated at its end, because an
offline-RL reader takes an episode without a final flag for one that goes on.

Choices forced by Minari 0.5 (read from its source, 0.5.4):

- Storage is Minari's `arrow` format. Text values become Arrow UTF-8 strings, so every
  Unicode string (newlines, NUL, astral characters, long outputs) comes back unchanged. The
  default `hdf5` format stores text as HDF5 strings, which end at a NUL byte.
- The spaces are plain `gymnasium.spaces.Text`: Minari serializes a Text space as
  `{max_length, min_length, charset}`, and `UnicodeText`'s charset (a small sampling
  alphabet) would load as a space that rejects most real observations. Each space therefore
  has min_length 0, max_length the longest string that occurs, and as its charset exactly the
  characters that occur in the dataset's observations (or actions), so the loaded space
  `contains` every value of the dataset.
- Arrow merges the episodes' columns by type, so every column needs one non-null type in
  every episode. Infos keep a fixed set of keys with sentinel values instead of nulls:
  `command` (the command's name, "" when the action did not parse), `exit_code` (-1 when no
  shell command finished; real exit codes are 0..255), `error` (the ACI's error kind, ""
  when none) and `duration_s` (0.0 when unknown). Infos have steps + 1 rows, like the
  observations: row 0 stands for the reset. A trajectory without steps is left out (logged):
  its empty action column would have no type and break the whole dataset.
- Minari finds datasets under `$MINARI_DATASETS_PATH` (default `~/.minari/datasets`), read at
  each call. `root` sets it for the duration of the export only.

Per episode, `dataset.storage.get_episode_metadata([i])` also holds the trajectory's id, run,
task, agent, model, exit status and whether it was resolved; the reset options are
`{"task_id": instance_id}`, which `SWEEnv.reset` takes to replay the same task.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from agentenv import ENV_ID
from agentenv.exports.collect import ExportError
from agentenv.trajectory.recorder import Trajectory

if TYPE_CHECKING:
    from minari.data_collector import EpisodeBuffer

log = logging.getLogger(__name__)

# Minari reads a version from the id (`int(None)` fails without one), so require it here.
DATASET_ID_RE = re.compile(r"^(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+$")
DEFAULT_DESCRIPTION = (
    "Coding-agent trajectories recorded by agentenv ({env}): text observations (command "
    "outputs) and text actions (ACI commands), with the grade as the reward on submit."
)
NO_EXIT_CODE = -1
INFO_KEYS = ("command", "exit_code", "error", "duration_s")
_SURROGATES = re.compile("[\ud800-\udfff]")


class MinariExportError(ExportError):
    """The Minari dataset cannot be made; the message says why."""


def export_minari(
    trajectories: list[Trajectory],
    dataset_id: str,
    *,
    root: Path | None = None,
    author: str = "agentenv",
    description: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
) -> Path:
    """Write `trajectories` as the Minari dataset `dataset_id` (`namespace/name-v0`) and
    return its folder (`<root>/<dataset_id>`)."""
    if not DATASET_ID_RE.match(dataset_id):
        raise MinariExportError(
            f"dataset id {dataset_id!r} is not of the form (namespace/)name-v<version>, e.g. agentenv/swe-v0"
        )
    if not trajectories:
        raise MinariExportError("nothing to export: no trajectories")
    usable = [t for t in trajectories if _has_steps(t)]
    if not usable:
        raise MinariExportError("nothing to export: no trajectory has a step")
    _check_encodable(usable)
    minari = _import_minari()
    with _datasets_path(root):
        from minari.storage import get_dataset_path

        folder = get_dataset_path(dataset_id)
        if folder.exists():
            raise MinariExportError(f"a Minari dataset {dataset_id!r} already exists at {folder}")
        try:
            dataset = _create(minari, usable, dataset_id, author, description, author_email, code_permalink)
            dataset.storage.update_episode_metadata([_episode_metadata(t) for t in usable])
        except BaseException:
            # A half-written dataset would block the next attempt with "already exists".
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return folder


def _create(
    minari: Any,
    trajectories: list[Trajectory],
    dataset_id: str,
    author: str,
    description: str | None,
    author_email: str | None,
    code_permalink: str | None,
) -> Any:
    observations = [o for t in trajectories for o in _observations(t)]
    actions = [s.action for t in trajectories for s in t.steps]
    with warnings.catch_warnings():
        # Minari warns for each optional field left empty (email, permalink, env spec ...).
        warnings.filterwarnings(
            "ignore", message=r".*(is set to None|env_spec is None)", category=UserWarning
        )
        return minari.create_dataset_from_buffers(
            dataset_id,
            [episode_buffer(t) for t in trajectories],
            observation_space=text_space(observations),
            action_space=text_space(actions),
            # The env itself needs tasks to be made; its spec says which env the data is from,
            # and `recover_environment(eval_env=True, tasks=...)` makes it.
            eval_env=gym.spec(ENV_ID),
            algorithm_name=_algorithm_name(trajectories),
            author=author,
            author_email=author_email,
            code_permalink=code_permalink,
            description=description or DEFAULT_DESCRIPTION.format(env=ENV_ID),
            data_format="arrow",
        )


def episode_buffer(trajectory: Trajectory) -> EpisodeBuffer:
    """One Minari episode from one trajectory (see the module docstring for the rules)."""
    from minari.data_collector import EpisodeBuffer

    steps = trajectory.steps
    truncations = [s.truncated for s in steps]
    if steps and not (steps[-1].terminated or steps[-1].truncated):
        truncations[-1] = True
    reset_info: dict[str, Any] = {}
    infos = [reset_info] + [s.info for s in steps]
    return EpisodeBuffer(
        seed=trajectory.header.seed,
        options={"task_id": trajectory.header.instance_id},
        observations=_observations(trajectory),
        actions=[s.action for s in steps],
        # Typed arrays: Arrow merges episodes by column type, and an inferred type could differ.
        rewards=np.asarray([s.reward for s in steps], dtype=np.float64),
        terminations=np.asarray([s.terminated for s in steps], dtype=np.bool_),
        truncations=np.asarray(truncations, dtype=np.bool_),
        infos=_columns(step_info(info) for info in infos),
    )


def step_info(info: dict[str, Any]) -> dict[str, Any]:
    """The small part of a step's info that goes into the dataset, never null."""
    command = info.get("command")
    name = command.get("name") if isinstance(command, dict) else command
    exit_code = info.get("exit_code")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        exit_code = NO_EXIT_CODE
    error = info.get("error")
    duration = info.get("duration_s")
    return {
        "command": name if isinstance(name, str) else "",
        "exit_code": exit_code,
        "error": "" if error is None else str(error),
        "duration_s": float(duration) if isinstance(duration, int | float) else 0.0,
    }


def text_space(texts: list[str]) -> gym.spaces.Text:
    """A Text space that holds exactly the characters and lengths that occur in `texts`."""
    charset: set[str] = set()
    for text in texts:
        charset.update(text)
    longest = max((len(text) for text in texts), default=0)
    return gym.spaces.Text(max_length=longest, min_length=0, charset="".join(sorted(charset)))


def _observations(trajectory: Trajectory) -> list[str]:
    return [trajectory.header.initial_observation] + [s.observation for s in trajectory.steps]


def _columns(rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    # Minari takes infos as one list per key, not one dict per step.
    columns: dict[str, list[Any]] = {key: [] for key in INFO_KEYS}
    for row in rows:
        for key in INFO_KEYS:
            columns[key].append(row[key])
    return columns


def _has_steps(trajectory: Trajectory) -> bool:
    if trajectory.steps:
        return True
    log.warning("%s has no steps; it is left out of the Minari dataset", trajectory.header.trajectory_id)
    return False


def _check_encodable(trajectories: list[Trajectory]) -> None:
    # A lone surrogate (an undecodable byte kept by surrogateescape) has no UTF-8 form;
    # Arrow would fail on it deep inside Minari without saying where it is.
    for trajectory in trajectories:
        texts = [("the initial observation", trajectory.header.initial_observation)]
        for step in trajectory.steps:
            texts.append((f"step {step.index}'s action", step.action))
            texts.append((f"step {step.index}'s observation", step.observation))
        for where, text in texts:
            if _SURROGATES.search(text):
                raise MinariExportError(
                    f"{trajectory.header.trajectory_id}: {where} holds a lone surrogate, "
                    "which is not valid Unicode text"
                )


def _episode_metadata(trajectory: Trajectory) -> dict[str, Any]:
    header, footer = trajectory.header, trajectory.footer
    return {
        "trajectory_id": header.trajectory_id,
        "run_id": header.run_id,
        "instance_id": header.instance_id,
        "agent": header.agent.name,
        "model": header.agent.model or "",
        "exit_status": footer.exit_status if footer else "unfinished",
        "resolved": bool(footer and footer.resolved),
    }


def _algorithm_name(trajectories: list[Trajectory]) -> str:
    agents = [t.header.agent for t in trajectories]
    return ", ".join(sorted({f"{a.name} ({a.model})" if a.model else a.name for a in agents}))


@contextmanager
def _datasets_path(root: Path | None) -> Iterator[None]:
    """Point Minari at `root` while the block runs (Minari reads only the environment)."""
    if root is None:
        yield
        return
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def _import_minari() -> Any:
    try:
        import minari
        # Its storage imports pyarrow and PIL (the latter undeclared by minari 0.5).
        import minari.dataset._storages.arrow_storage  # noqa: F401
    except ImportError as exc:
        raise MinariExportError(
            f"the Minari export needs minari: pip install 'agentenv[minari]' ({exc})"
        ) from None
    return minari
