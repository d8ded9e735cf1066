"""Replaying a trajectory's actions in a fresh episode, and branching off one of its steps.

Observations are compared after normalizing what legitimately changes between runs: the
repository's absolute path (the local runtime's scratch folder), test durations, memory
addresses. Anything else that differs is a divergence.
"""

from __future__ import annotations

import difflib
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentenv.aci.interface import ACIConfig
from agentenv.agents.base import Agent, AgentError, AgentStep
from agentenv.env.provision import REPO_DIR
from agentenv.env.swe_env import SWEEnv
from agentenv.rollout.episode import EpisodeResult, run_episode
from agentenv.tasks.model import Task
from agentenv.trajectory.model import AgentInfo, BranchOrigin
from agentenv.trajectory.recorder import Trajectory, read_trajectory

_DURATION = re.compile(r"\b\d+(\.\d+)?s\b")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def normalize(observation: str, repo_dir: str) -> str:
    text = observation.replace(repo_dir, "<repo>") if repo_dir else observation
    return _ADDRESS.sub("0x<addr>", _DURATION.sub("<t>s", text))


class StepComparison(BaseModel):
    index: int
    action: str
    matches: bool
    recorded: str
    replayed: str


class ReplayReport(BaseModel):
    trajectory: str
    runtime: str
    steps: list[StepComparison]

    @property
    def first_divergence(self) -> StepComparison | None:
        return next((s for s in self.steps if not s.matches), None)

    @property
    def matches(self) -> bool:
        return self.first_divergence is None

    def diff(self, step: StepComparison) -> str:
        return "".join(
            difflib.unified_diff(
                step.recorded.splitlines(keepends=True),
                step.replayed.splitlines(keepends=True),
                fromfile=f"recorded step {step.index}",
                tofile=f"replayed step {step.index}",
            )
        )


def _env_for(trajectory: Trajectory, runtime: str | None, max_steps: int) -> SWEEnv:
    task = Task.model_validate(trajectory.header.task)
    aci = ACIConfig.model_validate(trajectory.header.config.get("aci", {}))
    kind = runtime or trajectory.header.runtime
    if kind not in ("docker", "local"):
        kind = "docker"  # imported trajectories name no runtime of ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the caller chose the runtime knowingly
        return SWEEnv([task], runtime=kind, max_steps=max_steps, aci=aci, spare_runtime=False)  # type: ignore[arg-type]


def _repo_dir(env: SWEEnv) -> str:
    return env.runtime.repo_dir if env.runtime is not None else ""


def replay(path: str | Path, *, runtime: str | None = None) -> ReplayReport:
    """Re-execute the recorded actions and compare each observation with the recorded one."""
    recorded = read_trajectory(path)
    header = recorded.header
    env = _env_for(recorded, runtime, max_steps=max(1, len(recorded.steps)))
    comparisons: list[StepComparison] = []
    try:
        env.reset(seed=header.seed, options={"task_id": header.instance_id})
        recorded_repo = REPO_DIR if header.runtime == "docker" else _recorded_repo_dir(recorded)
        for step in recorded.steps:
            observation, *_ = env.step(step.action)
            before = normalize(step.observation, recorded_repo)
            after = normalize(observation, _repo_dir(env))
            comparisons.append(
                StepComparison(index=step.index, action=step.action, matches=before == after, recorded=before, replayed=after)
            )
    finally:
        env.close()
    return ReplayReport(trajectory=str(path), runtime=env.runtime_settings.kind, steps=comparisons)


def _recorded_repo_dir(trajectory: Trajectory) -> str:
    """The repository path the recording's runtime used (read off its state lines)."""
    for step in trajectory.steps:
        match = re.search(r"\(Current directory: (/\S*?/repo)\b", step.observation)
        if match:
            return match.group(1)
    return ""


class ScriptedAgent:
    """Plays a fixed list of actions (the replayed prefix and the rewritten step), then hands
    over to another agent, if any."""

    def __init__(self, actions: list[str], then: Agent | None, info: AgentInfo) -> None:
        self._actions = list(actions)
        self._then = then
        self._handed_over = False
        self.info = info

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        self._reset_info = dict(info)  # task_id and the like, which step infos do not repeat

    def act(self, observation: str, info: dict[str, Any]) -> AgentStep:
        if self._actions:
            return AgentStep(action=self._actions.pop(0))
        if self._then is None:
            raise AgentError("the branch's rewritten step was taken; no agent was given to go on", "branch_stopped")
        if not self._handed_over:
            self._then.reset(observation, {**self._reset_info, **info})
            self._handed_over = True
        return self._then.act(observation, info)


def branch(
    path: str | Path,
    at: int,
    *,
    action: str | None = None,
    agent: Agent | None = None,
    out: Path | None = None,
    runtime: str | None = None,
    max_steps: int | None = None,
) -> tuple[Path, EpisodeResult]:
    """A new trajectory: steps 0..at-1 of `path` replayed, then `action` (or the agent's own
    choice) at step `at`, then the agent, if one is given, to the end."""
    parent = read_trajectory(path)
    if not 0 <= at <= len(parent.steps):
        raise ValueError(f"--at must be between 0 and {len(parent.steps)} (the trajectory has {len(parent.steps)} steps)")
    if action is None and agent is None:
        raise ValueError("give the rewritten action, an agent to go on with, or both")
    header = parent.header
    branch_id = f"{header.trajectory_id}@{at}-{uuid.uuid4().hex[:6]}"
    out = out or Path(path).parent / "branches" / f"{branch_id.replace('/', '__')}.jsonl"
    prefix = [step.action for step in parent.steps[:at]] + ([action] if action is not None else [])
    limit = max_steps or int(header.config.get("max_steps", 50))
    env = _env_for(parent, runtime, max_steps=max(limit, len(prefix) + 1))
    driver = ScriptedAgent(prefix, agent, agent.info if agent is not None else header.agent)
    try:
        result = run_episode(
            env,
            driver,
            header.instance_id,
            run_id=header.run_id,
            trajectory_path=out,
            config=header.config,
            seed=header.seed,
            extra_header={
                "trajectory_id": branch_id,
                "parent": BranchOrigin(trajectory_id=header.trajectory_id, path=str(Path(path).resolve()), step=at),
            },
        )
    finally:
        env.close()
    return out, result
