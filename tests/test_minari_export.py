"""The Minari export: real trajectory files in, a dataset `minari.load_dataset` opens out."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agentenv import ENV_ID
from agentenv.exports.minari_export import (
    NO_EXIT_CODE,
    MinariExportError,
    export_minari,
    step_info,
    text_space,
)
from agentenv.trajectory.model import AgentInfo, StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder, Trajectory, read_trajectory

minari = pytest.importorskip("minari")

DATASET_ID = "agentenv/demo-v0"
LONG_OUTPUT = "\n".join(f"{n:>6}  line {n} of a long file, with tabs\tand ünïcödé" for n in range(3000))


def _info(command: str | None, exit_code: int | None = 0, error: str | None = None) -> dict:
    parsed = {"name": command, "arguments": {}, "syntax": "text"} if command else None
    return {
        "command": parsed, "exit_code": exit_code, "error": error,
        "duration_s": 0.25, "execution": {"output": "x"},
    }


def _write(path: Path, instance_id: str, initial: str, steps: list[tuple[str, str, dict]], *,
           end: str | None, reward: float = 0.0, seed: int | None = 7) -> Trajectory:
    """A trajectory file as a run writes it. `end`: "submitted", "max_steps", another exit
    status (the footer only), or None for a killed run (no footer)."""
    with Recorder(path) as recorder:
        recorder.write(TrajectoryHeader(
            run_id="run-1", instance_id=instance_id, task={"instance_id": instance_id},
            agent=AgentInfo(name="llm", model="gpt-test"), seed=seed, runtime="docker",
            initial_observation=initial,
        ))
        for index, (action, observation, info) in enumerate(steps):
            last = index == len(steps) - 1
            recorder.write(StepRecord(
                index=index, action=action, observation=observation, info=info,
                reward=reward if last and end == "submitted" else 0.0,
                terminated=last and end == "submitted", truncated=last and end == "max_steps",
            ))
        if end is not None:
            recorder.write(TrajectoryFooter(
                exit_status=end, steps=len(steps), resolved=reward == 1.0, total_reward=reward, duration_s=3.0,
            ))
    return read_trajectory(path)


@pytest.fixture
def trajectories(tmp_path: Path) -> list[Trajectory]:
    run = tmp_path / "trajectories" / "run-1"
    return [
        # Resolved: reward 1.0 on the submit step, non-ASCII everywhere, astral characters.
        _write(run / "t-1.jsonl", "t-1", "Fix the bug — «naïve» 中文 😀\nRepository at /repo.\n", [
            ("open src/ünï.py", "[File: src/ünï.py (3 lines)]\n1:λ = 1\n2:\n3:print('✓')\n", _info("open", None)),
            ("edit 1:1\nλ = 2\nend_of_edit", "File updated.\n(Open file: src/ünï.py)", _info("edit", None)),
            ("submit", "Submitted.", _info("submit", 0)),
        ], end="submitted", reward=1.0),
        # Killed mid-run: no footer, the last step has no flag.
        _write(run / "t-2.jsonl", "t-2", "Another problem.\r\nWith CRLF.", [
            ("bash cat big.txt", LONG_OUTPUT, _info("bash", 0)),
            ("bash false", "", _info("bash", 1)),
            ("bash sleep 999", "Command timed out; partial output kept.\x00\x1b[0m", _info("bash", None, "timeout")),
        ], end=None, seed=None),
        # Truncated by the step limit; one action did not parse.
        _write(run / "t-3.jsonl", "t-3", "Third.", [
            ("???", "Unknown command '???'.", _info(None, None, "parse_error")),
            ("bash ls", "a\nb\n", _info("bash", 0)),
        ], end="max_steps"),
        # Stopped by the agent's cost limit: a footer, but no flag on the last step.
        _write(run / "t-4.jsonl", "t-4", "Fourth.", [("bash true", "", {})], end="cost_limit"),
    ]


@pytest.fixture
def datasets_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minari"
    # For minari.load_dataset in the test; the export itself gets `root`.
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _expected_truncations(trajectory: Trajectory) -> list[bool]:
    flags = [s.truncated for s in trajectory.steps]
    flags[-1] = not trajectory.steps[-1].terminated
    return flags


def test_the_dataset_loads_and_every_field_equals_the_trajectories(
    trajectories: list[Trajectory], datasets_root: Path
) -> None:
    folder = export_minari(trajectories, DATASET_ID, root=datasets_root, description="demo")
    assert folder == datasets_root / "agentenv" / "demo-v0" and (folder / "data").is_dir()

    dataset = minari.load_dataset(DATASET_ID)
    assert dataset.total_episodes == len(trajectories) == 4
    assert dataset.total_steps == sum(len(t.steps) for t in trajectories) == 9
    assert dataset.spec.dataset_id == DATASET_ID
    episodes = list(dataset.iterate_episodes())
    for trajectory, episode in zip(trajectories, episodes, strict=True):
        steps = trajectory.steps
        assert episode.observations == [trajectory.header.initial_observation] + [s.observation for s in steps]
        assert episode.actions == [s.action for s in steps]
        assert episode.rewards.tolist() == [s.reward for s in steps]
        assert episode.terminations.tolist() == [s.terminated for s in steps]
        assert episode.truncations.tolist() == _expected_truncations(trajectory)
        assert len(episode) == len(steps)
        # Row 0 is the reset; the others are the steps' infos, with sentinels for "none".
        assert list(episode.infos) == ["command", "exit_code", "error", "duration_s"]
        assert episode.infos["command"].tolist() == [""] + [step_info(s.info)["command"] for s in steps]
        assert episode.infos["exit_code"].tolist() == [NO_EXIT_CODE] + [step_info(s.info)["exit_code"] for s in steps]

    resolved, killed, limited, costly = episodes
    assert resolved.rewards[-1] == 1.0 and resolved.terminations[-1] and not resolved.truncations[-1]
    assert resolved.infos["command"].tolist() == ["", "open", "edit", "submit"]
    assert killed.truncations.tolist() == [False, False, True] and not killed.terminations.any()
    assert killed.observations[1] == LONG_OUTPUT and killed.observations[3].endswith("\x00\x1b[0m")
    assert killed.infos["exit_code"].tolist() == [NO_EXIT_CODE, 0, 1, NO_EXIT_CODE]
    assert killed.infos["error"].tolist() == ["", "", "", "timeout"]
    assert limited.infos["error"].tolist() == ["", "parse_error", ""]
    assert costly.truncations.tolist() == [True]


def test_the_spaces_are_text_spaces_that_hold_every_value(
    trajectories: list[Trajectory], datasets_root: Path
) -> None:
    export_minari(trajectories, DATASET_ID, root=datasets_root)
    dataset = minari.load_dataset(DATASET_ID)
    observation_space, action_space = dataset.observation_space, dataset.action_space
    assert type(observation_space) is gym.spaces.Text and type(action_space) is gym.spaces.Text
    assert observation_space.min_length == action_space.min_length == 0
    assert observation_space.max_length == len(LONG_OUTPUT)
    assert action_space.max_length == max(len(s.action) for t in trajectories for s in t.steps)
    assert {"😀", "中", "\x00", "\r", "\n"} <= observation_space.character_set
    for episode in dataset.iterate_episodes():
        assert all(observation_space.contains(o) for o in episode.observations)
        assert all(action_space.contains(a) for a in episode.actions)


def test_metadata_names_the_env_the_author_and_each_episodes_trajectory(
    trajectories: list[Trajectory], datasets_root: Path
) -> None:
    export_minari(trajectories, DATASET_ID, root=datasets_root, author="Ada", description="demo set")
    dataset = minari.load_dataset(DATASET_ID)
    metadata = dataset.storage.metadata
    assert metadata["author"] == {"Ada"} and metadata["description"] == "demo set"
    assert metadata["data_format"] == "arrow" and metadata["algorithm_name"] == "llm (gpt-test)"
    assert dataset.spec.env_spec is None and ENV_ID in metadata["eval_env_spec"]
    assert DATASET_ID in minari.list_local_datasets()
    first, killed, *_ = dataset.storage.get_episode_metadata(range(4))
    assert first["trajectory_id"] == "run-1/t-1" and first["resolved"] and first["exit_status"] == "submitted"
    assert first["seed"] == 7 and first["options"] == {"task_id": "t-1"} and first["total_steps"] == 3
    assert killed["exit_status"] == "unfinished" and not killed["resolved"] and "seed" not in killed


def test_the_user_environment_is_left_as_it_was(
    trajectories: list[Trajectory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "users-own"))
    folder = export_minari(trajectories, DATASET_ID, root=tmp_path / "elsewhere")
    assert folder == tmp_path / "elsewhere" / DATASET_ID
    assert os.environ["MINARI_DATASETS_PATH"] == str(tmp_path / "users-own")
    assert not (tmp_path / "users-own" / "agentenv").exists()


def test_an_existing_dataset_is_never_overwritten(trajectories: list[Trajectory], datasets_root: Path) -> None:
    export_minari(trajectories[:1], DATASET_ID, root=datasets_root)
    with pytest.raises(MinariExportError, match="already exists"):
        export_minari(trajectories, DATASET_ID, root=datasets_root)
    assert minari.load_dataset(DATASET_ID).total_episodes == 1


@pytest.mark.parametrize("dataset_id", ["demo", "agentenv/demo", "agentenv/de mo-v0", "/demo-v0"])
def test_a_malformed_dataset_id_is_refused(
    trajectories: list[Trajectory], datasets_root: Path, dataset_id: str
) -> None:
    with pytest.raises(MinariExportError, match="not of the form"):
        export_minari(trajectories, dataset_id, root=datasets_root)


def test_empty_input_is_refused(trajectories: list[Trajectory], datasets_root: Path, tmp_path: Path) -> None:
    with pytest.raises(MinariExportError, match="no trajectories"):
        export_minari([], DATASET_ID, root=datasets_root)
    empty = _write(tmp_path / "empty.jsonl", "t-0", "Nothing happened.", [], end="agent_error")
    with pytest.raises(MinariExportError, match="no trajectory has a step"):
        export_minari([empty], DATASET_ID, root=datasets_root)
    assert not (datasets_root / DATASET_ID).exists()


def test_trajectories_without_steps_are_left_out_and_logged(
    trajectories: list[Trajectory], datasets_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = _write(tmp_path / "empty.jsonl", "t-0", "Nothing happened.", [], end="agent_error")
    with caplog.at_level(logging.WARNING):
        export_minari([empty, *trajectories], DATASET_ID, root=datasets_root)
    assert "run-1/t-0 has no steps" in caplog.text
    dataset = minari.load_dataset(DATASET_ID)
    assert dataset.total_episodes == 4
    assert [m["instance_id"] for m in dataset.storage.get_episode_metadata(range(4))] == ["t-1", "t-2", "t-3", "t-4"]


def test_a_lone_surrogate_is_named_before_minari_sees_it(trajectories: list[Trajectory], datasets_root: Path) -> None:
    broken = trajectories[2].model_copy(deep=True)
    broken.steps[1].observation = "bad byte: \udcff"
    with pytest.raises(MinariExportError, match=r"run-1/t-3: step 1's observation holds a lone surrogate"):
        export_minari([broken], DATASET_ID, root=datasets_root)
    assert not (datasets_root / DATASET_ID).exists()


def test_step_info_keeps_a_fixed_set_of_typed_values() -> None:
    assert step_info({}) == {"command": "", "exit_code": NO_EXIT_CODE, "error": "", "duration_s": 0.0}
    assert step_info(_info("bash", 2, "oops")) == {"command": "bash", "exit_code": 2, "error": "oops", "duration_s": 0.25}
    # Imported trajectories may name the command as a string, or put odd values in.
    assert step_info({"command": "ls", "exit_code": True, "duration_s": "1"})["command"] == "ls"
    assert step_info({"exit_code": True})["exit_code"] == NO_EXIT_CODE


def test_text_space_covers_exactly_what_occurs() -> None:
    space = text_space(["ab\n", "", "😀"])
    assert space.min_length == 0 and space.max_length == 3
    assert space.character_set == frozenset("ab\n😀")
    assert space.contains("") and space.contains("b😀a") and not space.contains("c")
    assert np.all([space.contains(space.sample()) for _ in range(5)])
