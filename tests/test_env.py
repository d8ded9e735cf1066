"""The Gymnasium contract: make, check_env on both runtimes, rewards, termination."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import gymnasium
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import agentenv
from agentenv.env.spaces import UnicodeText
from agentenv.env.swe_env import SWEEnv
from agentenv.tasks.model import Task

from .conftest import DEMO_TASKS


@pytest.fixture(params=["docker", "local"])
def runtime_kind(request: pytest.FixtureRequest) -> str:
    # Build (or reuse) the images/checkouts the env will use, once per session.
    request.getfixturevalue(f"{request.param}_provisioned")
    return request.param


@pytest.fixture
def env(runtime_kind: str) -> Iterator[gymnasium.Env]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = gymnasium.make(agentenv.ENV_ID, tasks=str(DEMO_TASKS), runtime=runtime_kind, max_steps=5)
    yield made
    made.close()


def test_registered_with_a_string_entry_point() -> None:
    spec = gymnasium.spec(agentenv.ENV_ID)
    assert spec.entry_point == "agentenv.env.swe_env:SWEEnv" and spec.nondeterministic


def test_check_env_passes(env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)


def test_reset_returns_the_problem_and_the_command_docs(env: gymnasium.Env, demo_tasks: list[Task]) -> None:
    observation, info = env.reset(seed=1, options={"task_id": demo_tasks[0].instance_id})
    assert info["task_id"] == demo_tasks[0].instance_id
    assert demo_tasks[0].problem_statement.strip()[:200] in observation
    assert "edit <start_line>:<end_line>" in observation and "submit" in observation
    assert observation in env.observation_space


def test_seeded_reset_chooses_the_same_task(env: gymnasium.Env) -> None:
    chosen = {env.reset(seed=seed)[1]["task_id"] for seed in (7, 7, 7)}
    assert len(chosen) == 1
    assert len({env.reset(seed=seed)[1]["task_id"] for seed in range(20)}) > 1


def test_non_ascii_observations_lie_in_the_space(env: gymnasium.Env) -> None:
    env.reset(seed=0)
    observation, *_ = env.step("bash printf 'caf\\xc3\\xa9 \\xe4\\xb8\\xad\\xe6\\x96\\x87 \\xf0\\x9f\\x99\\x82 \\xff\\xfe'")
    assert "café 中文 🙂 \ufffd\ufffd" in observation
    assert observation in env.observation_space


def test_max_steps_truncates_with_the_patch_in_info(env: gymnasium.Env) -> None:
    env.reset(seed=0)
    for step in range(1, 6):
        _, reward, terminated, truncated, info = env.step("bash echo change >> README.md")
        assert reward == 0.0 and not terminated
        assert truncated == (step == 5)
    assert "+change" in info["patch"]
    with pytest.raises(ResetNeeded):
        env.step("bash true")


def test_submit_grades_in_a_fresh_runtime(env: gymnasium.Env, demo_tasks: list[Task]) -> None:
    task = demo_tasks[0]
    env.reset(options={"task_id": task.instance_id})
    _, reward, terminated, truncated, info = env.step("submit")
    assert terminated and not truncated and reward == 0.0
    assert info["grade"]["resolved"] is False and info["grade"]["patch_exists"] is False


def test_unknown_task_and_bad_arguments_are_clear(demo_tasks: list[Task]) -> None:
    with pytest.raises(ValueError, match="max_steps"):
        SWEEnv(demo_tasks, runtime="local", max_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        SWEEnv(demo_tasks, runtime="local", render_mode="human")


def test_unknown_task_id(env: gymnasium.Env) -> None:
    with pytest.raises(KeyError, match="unknown task_id 'nope'"):
        env.reset(options={"task_id": "nope"})


def test_unicode_text_space() -> None:
    space = UnicodeText(10)
    assert "中文🙂é\n\t" in space and "" in space
    assert "x" * 11 not in space and "\ud800" not in space and b"bytes" not in space
    sample = space.sample()
    assert isinstance(sample, str) and sample in space
    assert "中" in space.character_set and "\udfff" not in space.character_set
