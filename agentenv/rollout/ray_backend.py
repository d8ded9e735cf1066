"""Running jobs on a Ray cluster: one actor per worker, each running its episodes (and owning
their runtimes) on its own node. `address` joins an existing cluster; none starts a local one.

The run folder must be reachable at the same path from every node (a shared file system, or
a single machine): actors write trajectories there step by step, as local workers do. The
run's cost budget is one actor that every episode charges and consults; it is also the one
writer of the run's spending ledger.

An actor that dies (its process killed, its node lost) takes only its own episode with it: that
episode's trajectory is ended (`env_error`, kept aside when the job runs again), its
containers on this host are removed, and the job runs again on a new actor, up to
`episode_retries` times; the other actors go on. On a stop, every actor is killed, and the
episodes they were running are ended as `interrupted`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError

from agentenv.rollout.attempt import INTERRUPTED, end_unfinished
from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult
from agentenv.rollout.jobs import EpisodeJob
from agentenv.rollout.ledger import SpendingLedger, read_ledger
from agentenv.rollout.local_backend import job_result, not_run
from agentenv.rollout.stop import RunStop
from agentenv.runtime.gc import process_alive, remove_run_containers
from agentenv.tasks.model import Task
from agentenv.trajectory.model import TrajectoryHeader

log = logging.getLogger(__name__)

_POLL_S = 0.2
# How long killed actors may take to be gone before their trajectories are ended anyway.
_KILL_WAIT_S = 10.0


@ray.remote(num_cpus=0)
class BudgetActor:
    """The run's spending, shared by every worker of the cluster, and its ledger."""

    def __init__(self, limit: float | None, spent: float, ledger: str | None) -> None:
        self.limit = limit
        self.total = spent
        self.ledger = SpendingLedger(Path(ledger)) if ledger else None

    def charge(self, cost: float, trajectory_id: str = "", attempt_id: str = "") -> float:
        self.total += cost
        if self.ledger is not None:
            self.ledger.append(cost, trajectory_id, attempt_id)
        return self.total

    def spent(self) -> float:
        return self.total

    def exceeded(self) -> bool:
        return self.limit is not None and self.total >= self.limit


class RayBudget:
    """The RunBudget protocol, over the budget actor."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def charge(self, cost: float, trajectory_id: str = "", attempt_id: str = "") -> None:
        ray.get(self._handle.charge.remote(cost, trajectory_id, attempt_id))

    def spent(self) -> float:
        return float(ray.get(self._handle.spent.remote()))

    def exceeded(self) -> bool:
        return bool(ray.get(self._handle.exceeded.remote()))


@ray.remote(num_cpus=1, max_restarts=0)
class EpisodeWorker:
    def whereabouts(self) -> tuple[str, int]:
        """(host, pid): the containers this actor starts carry them as their creator."""
        return socket.gethostname(), os.getpid()

    def run(self, job: dict[str, Any], config: dict[str, Any], base_dir: str, task: dict[str, Any], budget: Any) -> dict[str, Any]:
        # Imported in the actor's process: what it runs there is the same code as locally.
        from agentenv.rollout.local_backend import execute_job

        run_config = RunConfig.model_validate(config)
        run_config.base_dir = base_dir
        parsed = Task.model_validate(task)
        result = execute_job(EpisodeJob.model_validate(job), run_config, {parsed.instance_id: parsed}, RayBudget(budget))
        return result.model_dump(mode="json")


def _connect(address: str | None, workers: int) -> bool:
    """Join or start a cluster; True if this call started it (and so must stop it)."""
    if ray.is_initialized():
        return False
    # ray.init replaces the driver's SIGTERM handler with one that exits at once; the run's
    # own (stop.py: end the episodes, write the files) is put back.
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
            return False
        ray.init(
            num_cpus=max(workers, os.cpu_count() or 1),
            include_dashboard=False,
            logging_level=logging.WARNING,
            # Workers must import this very package, from wherever the driver has it.
            runtime_env={"env_vars": {"LITELLM_LOCAL_MODEL_COST_MAP": os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "True")}},
        )
        return True
    finally:
        if main and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


def _attempt_cost(ledger: Path) -> Callable[[TrajectoryHeader], float]:
    """What the attempt that wrote a trajectory spent, from the ledger (its header names it)."""

    def cost(header: TrajectoryHeader) -> float:
        attempt = getattr(header, "attempt_id", None)
        return sum(c.cost for c in read_ledger(ledger) if attempt and c.attempt_id == attempt)

    return cost


class _Pool:
    """Actors, the job each one runs, and the jobs still to run."""

    def __init__(self, config: RunConfig, jobs: list[EpisodeJob], tasks: dict[str, Task], budget: Any) -> None:
        self.config = config
        self.todo: deque[EpisodeJob] = deque(jobs)
        self.dumped = config.model_dump(mode="json")
        self.task_dumps = {task_id: task.model_dump(mode="json") for task_id, task in tasks.items()}
        self.budget = budget
        self.idle: list[Any] = []
        self.running: dict[Any, tuple[Any, EpisodeJob]] = {}
        self.actors: list[Any] = []
        # Each actor's (host, pid), asked first thing, so known once it runs an episode.
        self.whereabouts: list[Any] = []
        # Attempts lost with their actor, per job.
        self.lost: dict[str, int] = {}
        for _ in range(min(config.workers, len(jobs))):
            self.add_actor()

    def add_actor(self) -> None:
        actor = EpisodeWorker.remote()
        self.whereabouts.append(actor.whereabouts.remote())
        self.actors.append(actor)
        self.idle.append(actor)

    def local_pids(self) -> list[int]:
        """The pids of the actors on this host that are known."""
        ready, _ = ray.wait(self.whereabouts, num_returns=len(self.whereabouts), timeout=0)
        here = socket.gethostname()
        pids = []
        for ref in ready:
            try:
                host, pid = ray.get(ref, timeout=0)
            except RayError:
                continue
            if host == here:
                pids.append(pid)
        return pids

    def start_idle(self) -> None:
        while self.idle and self.todo:
            actor, job = self.idle.pop(), self.todo.popleft()
            ref = actor.run.remote(job.model_dump(), self.dumped, self.config.base_dir, self.task_dumps[job.instance_id], self.budget)
            self.running[ref] = (actor, job)


def run_ray(
    config: RunConfig,
    jobs: list[EpisodeJob],
    tasks: dict[str, Task],
    *,
    spent: float,
    on_result: Callable[[EpisodeResult], None],
    ledger: Path | None = None,
    stop: RunStop | None = None,
) -> None:
    if not jobs:
        return
    stop = stop or RunStop()
    started = _connect(config.address, config.workers)
    pool: _Pool | None = None
    budget: Any = None
    cost_of = _attempt_cost(ledger) if ledger is not None else (lambda header: 0.0)
    run_id = jobs[0].run_id if config.runtime != "local" else None
    try:
        budget = BudgetActor.remote(config.cost_limit, spent, str(ledger) if ledger else None)
        pool = _Pool(config, jobs, tasks, budget)
        while (pool.todo or pool.running) and not stop.requested:
            pool.start_idle()
            ready, _ = ray.wait(list(pool.running), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                actor, job = pool.running[ref]
                try:
                    raw = ray.get(ref)
                except RayError as exc:
                    if stop.requested:  # the signal reached the actors too: _stop ends it
                        break
                    del pool.running[ref]
                    if isinstance(exc, RayActorError):
                        _actor_lost(pool, job, exc, run_id, cost_of, on_result)
                        continue
                    # The actor lives; its call failed outside the episode (a bug of ours).
                    error = f"the Ray call failed: {str(exc).splitlines()[0]}"
                    log.warning("%s: %s", job.trajectory_id, error)
                    footer = end_unfinished(Path(job.trajectory_path), "env_error", error, cost_of)
                    on_result(job_result(job, footer, 1) if footer is not None else not_run(job, "env_error", error, 1))
                    pool.idle.append(actor)
                    continue
                del pool.running[ref]
                result = EpisodeResult.model_validate(raw)
                lost = pool.lost.get(job.trajectory_id, 0)
                on_result(result.model_copy(update={"attempts": result.attempts + lost}))
                pool.idle.append(actor)
        if stop.requested:
            _stop(pool, stop.reason or INTERRUPTED, run_id, cost_of, on_result)
    finally:
        for actor in [*(pool.actors if pool is not None else []), *([budget] if budget is not None else [])]:
            ray.kill(actor)
        if started:
            ray.shutdown()


def _actor_lost(
    pool: _Pool,
    job: EpisodeJob,
    exc: RayActorError,
    run_id: str | None,
    cost_of: Callable[[TrajectoryHeader], float],
    on_result: Callable[[EpisodeResult], None],
) -> None:
    """The actor running `job` died: end its trajectory, remove its containers, run it again."""
    lost = pool.lost[job.trajectory_id] = pool.lost.get(job.trajectory_id, 0) + 1
    error = f"the Ray actor running this episode died: {str(exc).splitlines()[0]}"
    log.warning("%s: %s", job.trajectory_id, error)
    footer = end_unfinished(Path(job.trajectory_path), "env_error", error, cost_of)
    if run_id is not None:
        remove_run_containers(run_id)  # the dead actor's: their creator is gone
    pool.add_actor()
    if lost > pool.config.episode_retries:
        on_result(job_result(job, footer, lost) if footer is not None else not_run(job, "env_error", error, lost))
    else:
        pool.todo.appendleft(job)


def _stop(
    pool: _Pool,
    reason: str,
    run_id: str | None,
    cost_of: Callable[[TrajectoryHeader], float],
    on_result: Callable[[EpisodeResult], None],
) -> None:
    """Kill every actor; once they are gone, end the episodes they were running and remove
    their containers."""
    pids = pool.local_pids()
    for actor in pool.actors:
        ray.kill(actor, no_restart=True)
    # ray.kill does not wait. Only once an actor's process is gone is nobody else writing its
    # trajectory or starting containers.
    deadline = time.monotonic() + _KILL_WAIT_S
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    refs = list(pool.running)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=max(0.0, deadline - time.monotonic()))
    for ref, (_, job) in pool.running.items():
        try:
            raw = ray.get(ref, timeout=0)
        except Exception:  # killed (or not yet gone: its footer is written regardless)
            footer = end_unfinished(Path(job.trajectory_path), INTERRUPTED, reason, cost_of)
            on_result(job_result(job, footer, 1) if footer is not None else not_run(job, INTERRUPTED, reason, 1))
        else:  # it finished just before the kill
            on_result(EpisodeResult.model_validate(raw))
    pool.running.clear()
    if run_id is not None:
        remove_run_containers(run_id)
