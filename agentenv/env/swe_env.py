"""`SWEEnv`: the Gymnasium contract over a repository task.

An observation and an action are text. `reset` starts a fresh runtime for a task and returns
the problem statement with the command docs; `step` carries out one ACI command; `submit`
terminates the episode and grades the patch in a separate runtime (reward 1.0 if resolved);
reaching `max_steps` truncates it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import gymnasium as gym
from gymnasium.error import ResetNeeded

from agentenv.aci.interface import ACI, ACIConfig
from agentenv.aci.observation import truncate_middle
from agentenv.aci.tools import ToolBundle, load_toolset
from agentenv.env.provision import Provisioned, RuntimeKind, RuntimeSettings, provision, resolve_kind
from agentenv.env.runtime_pool import RuntimePool
from agentenv.env.spaces import UnicodeText
from agentenv.grading.grader import GradeResult, grade
from agentenv.grading.metrics import RewardKind
from agentenv.grading.metrics import reward as reward_for
from agentenv.runtime.base import Runtime
from agentenv.runtime.sandbox import ContainerLimits
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

log = logging.getLogger(__name__)

MAX_ACTION_CHARS = 200_000

INSTANCE_TEMPLATE = """\
{problem_statement}
{requirements}
The repository is checked out at {repo_dir}. Change it so that the issue above is resolved,
then submit. One command per action; the commands are:

{docs}
"""


class EpisodeCancelled(Exception):
    """The env's owner cancelled the episode (its run is stopping)."""


class SWEEnv(gym.Env[str, str]):
    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        tasks: str | Path | list[Task],
        runtime: RuntimeKind = "docker",
        max_steps: int = 50,
        aci: ACIConfig | dict[str, Any] | None = None,
        limits: ContainerLimits | dict[str, Any] | None = None,
        grade_on_submit: bool = True,
        reward: RewardKind = "binary",
        grading_timeout: float = 1800.0,
        tools: list[str | Path] | None = None,
        labels: dict[str, str] | None = None,
        spare_runtime: bool = True,
        render_mode: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.render_mode = render_mode
        self.tasks = {task.instance_id: task for task in (tasks if isinstance(tasks, list) else load_tasks(tasks))}
        self.task_ids = sorted(self.tasks)
        self.aci_config = aci if isinstance(aci, ACIConfig) else ACIConfig.model_validate(aci or {})
        limits_model = limits if isinstance(limits, ContainerLimits) else ContainerLimits.model_validate(limits or {})
        self.runtime_settings = RuntimeSettings(
            kind=resolve_kind(runtime), limits=limits_model, command_timeout=self.aci_config.command_timeout
        )
        self.max_steps = max_steps
        self.grade_on_submit = grade_on_submit
        if reward not in get_args(RewardKind):
            raise ValueError(f"reward must be binary, pass_ratio or rltf, got {reward!r}")
        self.reward_kind: RewardKind = reward
        self.grading_timeout = grading_timeout
        # The built-in commands plus those of the user's bundle folders (with their scripts).
        self.bundle: ToolBundle = load_toolset(tools)
        self.labels = labels or {}
        # Asked before and after every runtime starts (the episode's, a grader's): once it says
        # yes (the run is stopping), no runtime starts or outlives its start.
        self._cancelled = cancelled or (lambda: False)
        self.action_space = UnicodeText(MAX_ACTION_CHARS)
        self.observation_space = UnicodeText(self.aci_config.max_observation_chars)

        self._provisioned: dict[str, Provisioned] = {}
        # A spare runtime per task is started in the background, so a reset only takes it.
        self._pool = RuntimePool(spare=spare_runtime)
        self.task: Task | None = None
        self.runtime: Runtime | None = None
        self.aci: ACI | None = None
        self.steps = 0
        self._done = True
        self._last_observation = ""

    # -- gymnasium API -------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            task_id = self.task_ids[int(self.np_random.integers(len(self.task_ids)))]
        if task_id not in self.tasks:
            raise KeyError(f"unknown task_id {task_id!r}; this env has {len(self.tasks)} tasks")
        self._close_runtime()
        self.task = self.tasks[task_id]
        provisioned = self.provisioned(self.task)
        self.runtime = self._pool.take(task_id, lambda: self._start_runtime(provisioned.start))
        self.aci = ACI(self.runtime, test_cmd=self.task.test_cmd, config=self.aci_config, bundle=self.bundle)
        self.steps = 0
        self._done = False
        observation = self._instance_prompt(self.task)
        self._last_observation = observation
        info = {
            "task_id": task_id,
            # What an agent may build its own prompt from (nothing hidden: the public task).
            "problem_statement": self.task.problem_statement,
            "requirements": self.task.requirements,
            "repo_dir": self.runtime.repo_dir,
            "runtime": provisioned.kind,
            "image": provisioned.image,
            "base_commit": self.aci.base_commit,
        }
        return observation, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done or self.aci is None or self.task is None:
            raise ResetNeeded("call reset() before step(), and again after the episode ended")
        self.steps += 1
        outcome = self.aci.step(action)
        info = dict(outcome.info)
        info["step"] = self.steps
        reward = 0.0
        terminated = outcome.submitted
        if terminated:
            info["patch"] = outcome.patch
            if self.grade_on_submit:
                result = self.grade_patch(outcome.patch)
                info["grade"] = {**result.report.model_dump(mode="json"), "resolved": result.report.resolved}
                info["test_log"] = result.test_log
                reward = reward_for(result.report, self.reward_kind)
        truncated = not terminated and self.steps >= self.max_steps
        if truncated:
            # What the agent had done when time ran out, for whoever grades it afterwards.
            try:
                info["patch"] = self.aci.collect_patch()
            except Exception as exc:  # a broken repo must not lose the episode
                info["patch"] = None
                info["patch_error"] = str(exc)
        self._done = terminated or truncated
        self._last_observation = outcome.observation
        return outcome.observation, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        return None

    def close(self) -> None:
        self._close_runtime()
        self._pool.close()
        super().close()

    # -- beyond the contract -------------------------------------------------------------
    def provisioned(self, task: Task) -> Provisioned:
        """Runtimes for `task` (its image is built on first use, then cached)."""
        if task.instance_id not in self._provisioned:
            self._provisioned[task.instance_id] = provision(task, self.runtime_settings, labels=self.labels)
        return self._provisioned[task.instance_id]

    def wait_for_spares(self) -> None:
        """Block until the spare runtimes started in the background are ready."""
        self._pool.wait_for_spares()

    def grade_patch(self, patch: str | None) -> GradeResult:
        """Grade `patch` for the current task in a fresh runtime with the hidden tests."""
        if self.task is None:
            raise ResetNeeded("no task: call reset() first")
        start = self.provisioned(self.task).start
        return grade(self.task, patch, lambda: self._start_runtime(start), timeout=self.grading_timeout)

    def _start_runtime(self, start: Callable[[], Runtime]) -> Runtime:
        if self._cancelled():
            raise EpisodeCancelled("the episode was cancelled: no runtime is started")
        runtime = start()
        if self._cancelled():  # cancelled while it was starting: nobody else would remove it
            runtime.close()
            raise EpisodeCancelled("the episode was cancelled while a runtime was starting")
        return runtime

    def _instance_prompt(self, task: Task) -> str:
        assert self.runtime is not None and self.aci is not None
        requirements = f"\nRequirements:\n{task.requirements}\n" if task.requirements else ""
        text = INSTANCE_TEMPLATE.format(
            problem_statement=task.problem_statement.strip(),
            requirements=requirements,
            repo_dir=self.runtime.repo_dir,
            docs=self.aci.docs(),
        )
        return truncate_middle(text, self.aci_config.max_observation_chars)

    def _close_runtime(self) -> None:
        if self.runtime is not None:
            self._pool.release(self.runtime)
            self.runtime = None
            self.aci = None
