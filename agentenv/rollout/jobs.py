"""The jobs of a run (each task, each sample), where their trajectories go, and which are done."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from agentenv.rollout.episode import EpisodeResult
from agentenv.tasks.model import Task
from agentenv.trajectory.recorder import read_trajectory_if_readable

# Footers that do not make a job done: it is run again when the run is resumed. They say the
# episode was cut short by something other than the agent, which another try may not meet:
# - env_error: the environment failed (a dead container or engine, a failed build);
# - interrupted: the run was stopped (SIGINT/SIGTERM) or its process died under it;
# - run_cost_limit: the run's budget ran out, not the episode's (a resume may raise it);
# - model_error: the model failed for good (transient errors past their retries, a lasting
#   server error);
# - auth_error: the API key is missing or refused (the user fixes it, then resumes).
# The agent's own outcomes stand: submitted, max_steps, cost_limit and call_limit (its own
# limits), format_error (it kept answering without a usable command), context_window (its
# history outgrew the model), agent_error (the agent gave up, e.g. the oracle without a patch).
# Any status not named here stands too: a job is never re-run (and paid for) by guesswork.
RETRY_ON_RESUME = frozenset({"env_error", "interrupted", "run_cost_limit", "model_error", "auth_error"})


class EpisodeJob(BaseModel):
    instance_id: str
    sample: int
    trajectory_path: str
    trajectory_id: str
    run_id: str
    log_dir: str


def plan_jobs(tasks: list[Task], samples: int, run_dir: Path, run_id: str) -> list[EpisodeJob]:
    jobs = []
    for task in tasks:
        for sample in range(samples):
            # A single sample keeps the plain name (and id) that SWE-bench tools expect.
            stem = task.instance_id if sample == 0 else f"{task.instance_id}.sample{sample}"
            suffix = "" if sample == 0 else f"#{sample}"
            jobs.append(
                EpisodeJob(
                    instance_id=task.instance_id,
                    sample=sample,
                    trajectory_path=str(run_dir / f"{stem}.jsonl"),
                    trajectory_id=f"{run_id}/{task.instance_id}{suffix}",
                    run_id=run_id,
                    log_dir=str(run_dir / "logs"),
                )
            )
    return jobs


def finished_result(job: EpisodeJob) -> EpisodeResult | None:
    """The result recorded in a finished trajectory, or None (missing, unfinished, broken)."""
    path = Path(job.trajectory_path)
    trajectory = read_trajectory_if_readable(path, "will be run again")
    if trajectory is None:
        return None
    footer = trajectory.footer
    if footer is None or footer.exit_status in RETRY_ON_RESUME:
        return None
    return EpisodeResult.from_footer(footer, instance_id=job.instance_id, sample=job.sample, trajectory=path)
