"""Thousands of arbitrary actions thrown at step(): no exception escapes, every observation
lies in the observation space, and the container is still there and answering at the end."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentenv.aci.tools import load_bundle
from agentenv.env.swe_env import SWEEnv
from agentenv.runtime.docker_runtime import DockerRuntime

from .conftest import DEMO_TASKS

NAMES = [command.name for command in load_bundle().commands]
# Text that looks like what agents type, and text that does not.
WORDS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["1", "0", "-3", "999999", "1:2", "5:1", "README.md", "spanlib/ops.py", "/repo", "..", "'", '"', "\\", "end_of_edit", "end_of_old", "*.py"]),
)
TEXT_ACTIONS = st.builds(
    lambda name, words, body: " ".join([name, *words]) + ("\n" + "\n".join(body) if body else ""),
    st.sampled_from(NAMES),
    st.lists(WORDS, max_size=3),
    st.lists(st.one_of(st.text(max_size=30), st.sampled_from(["end_of_edit", "end_of_old", "end_of_new", "end_of_insert"])), max_size=4),
)
JSON_ACTIONS = st.builds(
    lambda name, arguments: json.dumps({"name": name, "arguments": arguments}),
    st.one_of(st.sampled_from(NAMES), st.text(max_size=10)),
    st.dictionaries(
        st.sampled_from(["path", "line_number", "start_line", "end_line", "replacement_text", "old_str", "new_str", "line", "text", "command", "search_term", "file_name", "dir", "name", "target", "x"]),
        st.one_of(st.integers(-5, 10**6), st.text(max_size=30), st.none(), st.lists(st.integers(), max_size=2)),
        max_size=4,
    ),
)
ACTIONS = st.one_of(st.text(max_size=200), TEXT_ACTIONS, JSON_ACTIONS)
# What the fuzzing did, for the check that follows it.
TALLY = {"actions": 0, "ran": 0}


@pytest.fixture(scope="module")
def fuzz_env(docker_provisioned) -> Iterator[SWEEnv]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = SWEEnv(
            DEMO_TASKS, runtime="docker", max_steps=10**6, grade_on_submit=False,
            aci={"command_timeout": 2, "test_timeout": 10},
        )
    env.reset(seed=0)
    yield env
    env.close()


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=5))
def test_arbitrary_actions_never_break_the_env(fuzz_env: SWEEnv, actions: list[str]) -> None:
    for action in actions:
        observation, reward, terminated, truncated, info = fuzz_env.step(action)
        TALLY["actions"] += 1
        TALLY["ran"] += info["error"] is None
        assert isinstance(observation, str) and observation in fuzz_env.observation_space
        assert reward == 0.0 and not truncated
        if terminated:
            fuzz_env.reset(seed=0)


def test_the_container_survived_the_fuzzing(fuzz_env: SWEEnv) -> None:
    # Runs after the fuzz test, in file order.
    print(f"fuzzed: {TALLY}")
    assert TALLY["actions"] >= 2000, TALLY
    assert TALLY["ran"] >= 50, f"too few actions were valid commands to exercise them: {TALLY}"
    runtime = fuzz_env.runtime
    assert isinstance(runtime, DockerRuntime)
    runtime.container.reload()
    assert runtime.container.status == "running"
    observation, *_ = fuzz_env.step("bash echo alive && git -C /repo status --short | wc -l")
    assert observation.startswith("alive\n")
