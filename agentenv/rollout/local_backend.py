"""Running jobs on this machine: worker threads, one fresh env per attempt.

Workers are daemon threads, not a ThreadPoolExecutor: when the run stops, a worker may be
blocked in a model call for minutes, and an executor's threads are joined at interpreter exit.
The main thread polls for results and for a stop; on a stop it ends the episodes in flight
(`interrupted` footers), removes the run's containers (which unblocks workers waiting on a
command or on grading), gives the workers a moment to end, and returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from agentenv.agents.budget import Account, RunBudget
from agentenv.env.swe_env import SWEEnv
from agentenv.rollout.agent_factory import make_agent
from agentenv.rollout.attempt import INTERRUPTED, Attempt, InFlight
from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult, run_episode
from agentenv.rollout.jobs import EpisodeJob
from agentenv.rollout.stop import RunStop
from agentenv.runtime.gc import remove_run_containers
from agentenv.tasks.model import Task
from agentenv.trajectory.model import TrajectoryFooter

log = logging.getLogger(__name__)

# After a stop, how long workers may take to notice (their containers are gone by then).
STOP_GRACE_S = 2.0
_POLL_S = 0.1


def job_result(job: EpisodeJob, footer: TrajectoryFooter, attempts: int) -> EpisodeResult:
    return EpisodeResult.from_footer(
        footer, instance_id=job.instance_id, sample=job.sample, trajectory=job.trajectory_path, attempts=attempts
    )


def not_run(job: EpisodeJob, exit_status: str, error: str, attempts: int) -> EpisodeResult:
    """A job that ended without (another) episode: the run stopped, or its budget ran out.

    Its trajectory file is left as it is: whatever an earlier attempt wrote stays true."""
    footer = TrajectoryFooter(exit_status=exit_status, steps=0, error=error, duration_s=0.0)
    return job_result(job, footer, attempts)


def _log_failure(job: EpisodeJob, number: int, exc: BaseException) -> None:
    Path(job.log_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(job.log_dir) / f"{Path(job.trajectory_path).stem}.error.log", "a", encoding="utf-8") as handle:
        handle.write(f"--- attempt {number}\n" + "".join(traceback.format_exception(exc)))


def execute_job(
    job: EpisodeJob,
    config: RunConfig,
    tasks: dict[str, Task],
    budget: RunBudget | None,
    *,
    stop: RunStop | None = None,
    in_flight: InFlight | None = None,
) -> EpisodeResult:
    """Run one job; an attempt that fails (the environment, not the agent) gets a fresh env.

    Every attempt that got as far as its header ends with a footer: its own, `env_error` with
    the error, or `interrupted` when the run stops."""
    stop = stop or RunStop()
    in_flight = in_flight or InFlight()
    task = tasks[job.instance_id]
    last: Attempt | None = None
    error = ""
    for number in range(1, config.episode_retries + 2):
        if stop.requested:
            return not_run(job, INTERRUPTED, stop.reason or "", number - 1)
        if budget is not None and budget.exceeded():
            return not_run(job, "run_cost_limit", "the run reached its total cost limit before this episode", number - 1)
        attempt = Attempt(Path(job.trajectory_path), superseded_dir=Path(job.log_dir) / "superseded")
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
            cancelled=lambda: stop.requested,
        )
        try:
            with in_flight.track(job, attempt):
                account = Account(budget, job.trajectory_id, attempt.id) if budget is not None else None
                result = run_episode(
                    env,
                    make_agent(config, tasks, env.bundle, account),
                    job.instance_id,
                    run_id=job.run_id,
                    trajectory_path=Path(job.trajectory_path),
                    config=config.model_dump(mode="json"),
                    seed=config.seed + job.sample,
                    log_dir=Path(job.log_dir),
                    extra_header={"trajectory_id": job.trajectory_id, "sample": job.sample},
                    attempt=attempt,
                )
            return result.model_copy(update={"sample": job.sample, "attempts": number})
        except Exception as exc:  # one broken episode never stops the run
            if stop.requested:  # the stop broke it (its containers went away): not a failure
                footer = attempt.end(INTERRUPTED, stop.reason or "") or attempt.footer
                if footer is None:
                    return not_run(job, INTERRUPTED, stop.reason or "", number)
                return job_result(job, footer, number)
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s (sample %d) attempt %d failed: %s", job.instance_id, job.sample, number, error)
            _log_failure(job, number, exc)
            attempt.end("env_error", error)
            if attempt.opened:
                last = attempt
        finally:
            env.close()
    if last is not None and last.footer is not None and last.footer.exit_status == "env_error":
        return job_result(job, last.footer, config.episode_retries + 1)
    return not_run(job, "env_error", error, config.episode_retries + 1)


def run_local(
    config: RunConfig,
    jobs: list[EpisodeJob],
    tasks: dict[str, Task],
    budget: RunBudget,
    *,
    on_result: Callable[[EpisodeResult], None],
    stop: RunStop | None = None,
) -> None:
    if not jobs:
        return
    stop = stop or RunStop()
    todo: queue.SimpleQueue[EpisodeJob] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    results: queue.SimpleQueue[tuple[EpisodeJob, EpisodeResult]] = queue.SimpleQueue()
    in_flight = InFlight()

    def work() -> None:
        while not stop.requested:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                result = execute_job(job, config, tasks, budget, stop=stop, in_flight=in_flight)
            except Exception as exc:  # a bug of ours: the job is reported, the worker goes on
                log.exception("%s: the job failed", job.trajectory_id)
                result = not_run(job, "env_error", f"{type(exc).__name__}: {exc}", 1)
            results.put((job, result))

    workers = [
        threading.Thread(target=work, name=f"episode-{n}", daemon=True)
        for n in range(min(config.workers, len(jobs)))
    ]
    for worker in workers:
        worker.start()
    reported: set[str] = set()

    def drain(timeout: float) -> bool:
        try:
            job, result = results.get(timeout=timeout)
        except queue.Empty:
            return False
        reported.add(job.trajectory_id)
        on_result(result)
        return True

    while not stop.requested and (any(w.is_alive() for w in workers) or not results.empty()):
        drain(_POLL_S)
    if not stop.requested:
        return
    # The local runtime has no containers: nothing to remove, no engine to ask.
    run_id = jobs[0].run_id if config.runtime != "local" else None
    _stop_in_flight(run_id, workers, in_flight, stop, drain, reported, on_result)


def _stop_in_flight(
    run_id: str | None,
    workers: list[threading.Thread],
    in_flight: InFlight,
    stop: RunStop,
    drain: Callable[[float], bool],
    reported: set[str],
    on_result: Callable[[EpisodeResult], None],
) -> None:
    """End the episodes in flight, remove their containers, let the workers end."""
    began = time.monotonic()
    ended = in_flight.interrupt_all(stop.reason or INTERRUPTED)
    log.info("stop: %d episodes ended in %.2fs", len(ended), time.monotonic() - began)
    if run_id is not None:
        removed = remove_run_containers(run_id)
        log.info("stop: %d containers removed after %.2fs", removed, time.monotonic() - began)
    deadline = time.monotonic() + STOP_GRACE_S
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        drain(_POLL_S)
    while drain(0):
        pass
    # A worker blocked in a model call cannot be woken: its episode's footer is already
    # written, and its thread dies with the process.
    for job, attempt in ended:
        if job.trajectory_id not in reported and attempt.footer is not None:
            reported.add(job.trajectory_id)
            on_result(job_result(job, attempt.footer, 1))
    if run_id is not None:  # containers that finished starting after the first sweep
        remove_run_containers(run_id)
    stuck = [w.name for w in workers if w.is_alive()]
    log.info("stop: done after %.2fs; %d workers left behind (blocked, e.g. in a model call)", time.monotonic() - began, len(stuck))
