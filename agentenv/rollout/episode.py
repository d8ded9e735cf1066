"""One episode: an agent acting in an env, every step recorded as it happens."""

from __future__ import annotations

import logging
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentenv.agents.base import Agent, AgentError
from agentenv.env.swe_env import SWEEnv
from agentenv.rollout.attempt import Attempt, EpisodeInterrupted
from agentenv.trajectory.model import StepRecord, TrajectoryFooter, TrajectoryHeader

log = logging.getLogger(__name__)


class EpisodeResult(BaseModel):
    instance_id: str
    sample: int = 0
    attempts: int = 1
    exit_status: str
    steps: int
    resolved: bool
    submission: str | None
    grade: dict[str, Any] | None
    cost: float = 0.0
    error: str | None = None
    trajectory: str

    @classmethod
    def from_footer(
        cls, footer: TrajectoryFooter, *, instance_id: str, trajectory: str | Path, sample: int = 0, attempts: int = 1
    ) -> EpisodeResult:
        """The result that an episode's trajectory footer records."""
        return cls(
            instance_id=instance_id,
            sample=sample,
            attempts=attempts,
            exit_status=footer.exit_status,
            steps=footer.steps,
            resolved=footer.resolved,
            submission=footer.submission,
            grade=footer.grade,
            cost=footer.cost,
            error=footer.error,
            trajectory=str(trajectory),
        )


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("agentenv", "gymnasium", "docker", "litellm"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _auto_submit(
    env: SWEEnv, patch: str | None, log_dir: Path | None, instance_id: str
) -> tuple[str | None, dict[str, Any] | None]:
    """Grade what the agent left in the repository, as SWE-agent's auto-submission does: for
    the report and the footer; the env's reward is not changed."""
    if patch is None and env.aci is not None:
        try:
            patch = env.aci.collect_patch()
        except Exception as exc:  # the repo may be broken beyond git; the episode still ends
            log.warning("%s: could not collect the patch: %s", instance_id, exc)
            return None, None
    result = env.grade_patch(patch)
    _save_test_log(log_dir, instance_id, result.test_log)
    return patch, {**result.report.model_dump(mode="json"), "resolved": result.report.resolved}


def _save_test_log(log_dir: Path | None, instance_id: str, test_log: str | None) -> None:
    if test_log is not None and log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{instance_id}.test.log").write_text(test_log, encoding="utf-8")


def _spent(agent: Agent, recorded: float) -> float:
    """What the episode spent on models: the agent's own tally when it keeps one (it counts the
    calls of a step that never got recorded: re-asks before a format error, a call whose step
    was cut short), else the sum over the recorded steps."""
    cost = getattr(agent, "cost", None)
    return float(cost) if isinstance(cost, int | float) else recorded


def run_episode(
    env: SWEEnv,
    agent: Agent,
    instance_id: str,
    *,
    run_id: str,
    trajectory_path: Path,
    config: dict[str, Any],
    seed: int | None,
    log_dir: Path | None = None,
    extra_header: dict[str, Any] | None = None,
    attempt: Attempt | None = None,
) -> EpisodeResult:
    """Reset `env`, let `agent` act until the episode ends, record every step as it happens.

    `attempt` (made here if not given) owns the trajectory file: its owner may end it from
    another thread (a stop), after which this raises `EpisodeInterrupted`. Errors of the env
    propagate with the trajectory left open, for the caller to end.
    """
    own_attempt = attempt is None
    attempt = attempt or Attempt(trajectory_path)
    started = time.monotonic()
    observation, info = env.reset(seed=seed, options={"task_id": instance_id})
    assert env.task is not None
    recorded = 0.0
    attempt.cost = lambda: _spent(agent, recorded)
    try:
        attempt.open(
            TrajectoryHeader(
                run_id=run_id,
                instance_id=instance_id,
                task=env.task.model_dump(mode="json"),
                config=config,
                agent=agent.info,
                seed=seed,
                versions=versions(),
                runtime=str(info.get("runtime")),
                image=info.get("image"),
                base_commit=info.get("base_commit"),
                initial_observation=observation,
                tools=env.bundle.function_schemas(),
                attempt_id=attempt.id,
                **(extra_header or {}),
            )
        )
        exit_status, error = "max_steps", None
        submission: str | None = None
        grade: dict[str, Any] | None = None
        total_reward, index = 0.0, 0
        try:
            agent.reset(observation, info)
            while True:
                thinking_started = time.monotonic()
                decision = agent.act(observation, info)
                thinking = time.monotonic() - thinking_started
                if decision.model_call is not None:
                    recorded += decision.model_call.cost
                step_started = time.monotonic()
                observation, reward, terminated, truncated, info = env.step(decision.action)
                # The hidden tests' log goes beside the trajectory, not into it.
                _save_test_log(log_dir, instance_id, info.pop("test_log", None))
                attempt.record(
                    StepRecord(
                        index=index,
                        action=decision.action,
                        observation=observation,
                        reward=float(reward),
                        terminated=terminated,
                        truncated=truncated,
                        info=info,
                        thought=decision.thought,
                        model_call=decision.model_call,
                        timings={"agent_s": thinking, "env_s": time.monotonic() - step_started},
                    )
                )
                index += 1
                total_reward += float(reward)
                if terminated:
                    exit_status = "submitted"
                    submission, grade = info.get("patch"), info.get("grade")
                    break
                if truncated:
                    exit_status = "max_steps"
                    submission, grade = _auto_submit(env, info.get("patch"), log_dir, instance_id)
                    break
        except AgentError as exc:
            exit_status, error = exc.exit_status, str(exc)
            log.info("%s: the agent stopped: %s", instance_id, exc)
            submission, grade = _auto_submit(env, None, log_dir, instance_id)
        footer = TrajectoryFooter(
            exit_status=exit_status,
            steps=index,
            submission=submission,
            grade=grade,
            resolved=bool(grade and grade.get("resolved")),
            total_reward=total_reward,
            cost=_spent(agent, recorded),
            error=error,
            duration_s=time.monotonic() - started,
        )
        if not attempt.finish(footer):
            raise EpisodeInterrupted(attempt.interrupted or f"{trajectory_path}: the attempt was ended")
    finally:
        if own_attempt:
            attempt.close()
    return EpisodeResult.from_footer(footer, instance_id=instance_id, trajectory=trajectory_path)
