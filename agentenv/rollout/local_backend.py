"""Running jobs on this machine: a pool of worker threads, one fresh env per attempt."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from agentenv.agents.budget import Budget
from agentenv.env.swe_env import SWEEnv
from agentenv.rollout.agent_factory import make_agent
from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult, run_episode
from agentenv.rollout.jobs import EpisodeJob
from agentenv.tasks.model import Task
from agentenv.trajectory.model import TrajectoryFooter

log = logging.getLogger(__name__)


def _give_up(job: EpisodeJob, exit_status: str, error: str, attempts: int) -> EpisodeResult:
    """Record why a job did not run to its end, in its trajectory when it has one."""
    path = Path(job.trajectory_path)
    footer = TrajectoryFooter(exit_status=exit_status, steps=0, error=error, duration_s=0.0)
    if path.exists() and path.stat().st_size:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(footer.model_dump_json() + "\n")
    return EpisodeResult.from_footer(footer, instance_id=job.instance_id, sample=job.sample, trajectory=path, attempts=attempts)


def execute_job(job: EpisodeJob, config: RunConfig, tasks: dict[str, Task], budget: Budget | None) -> EpisodeResult:
    """Run one job; an attempt that fails (the environment, not the agent) gets a fresh env."""
    task = tasks[job.instance_id]
    error = ""
    for attempt in range(1, config.episode_retries + 2):
        if budget is not None and budget.exceeded():
            return _give_up(job, "run_cost_limit", "the run reached its total cost limit before this episode", attempt - 1)
        env = SWEEnv(
            [task],
            runtime=config.runtime,
            max_steps=config.max_steps,
            aci=config.aci,
            limits=config.limits,
            grading_timeout=config.grading_timeout,
            reward=config.reward,
            tools=[config.path(folder) for folder in config.tools],
            labels={"agentenv.run_id": job.run_id},
            spare_runtime=False,  # one episode per env: a spare would never be used
        )
        try:
            result = run_episode(
                env,
                make_agent(config, tasks, env.bundle, budget),
                job.instance_id,
                run_id=job.run_id,
                trajectory_path=Path(job.trajectory_path),
                config=config.model_dump(mode="json"),
                seed=config.seed + job.sample,
                log_dir=Path(job.log_dir),
                extra_header={"trajectory_id": job.trajectory_id, "sample": job.sample},
            )
            return result.model_copy(update={"sample": job.sample, "attempts": attempt})
        except Exception as exc:  # one broken episode never stops the run
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s (sample %d) attempt %d failed: %s", job.instance_id, job.sample, attempt, error)
            Path(job.log_dir).mkdir(parents=True, exist_ok=True)
            with open(Path(job.log_dir) / f"{Path(job.trajectory_path).stem}.error.log", "a", encoding="utf-8") as handle:
                handle.write(f"--- attempt {attempt}\n" + "".join(traceback.format_exception(exc)))
        finally:
            env.close()
    return _give_up(job, "env_error", error, config.episode_retries + 1)


def run_local(
    config: RunConfig,
    jobs: list[EpisodeJob],
    tasks: dict[str, Task],
    budget: Budget,
    *,
    on_result: Callable[[EpisodeResult], None],
) -> None:
    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="episode") as pool:
        futures = {pool.submit(execute_job, job, config, tasks, budget): job for job in jobs}
        for future in as_completed(futures):
            on_result(future.result())
