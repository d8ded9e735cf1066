"""Running jobs on a Ray cluster: one actor per worker, each running its episodes (and owning
their runtimes) on its own node. `address` joins an existing cluster; none starts a local one.

The run folder must be reachable at the same path from every node (a shared file system, or
a single machine): actors write trajectories there step by step, as local workers do. The
run's cost budget is one actor that every episode charges and consults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import ray
from ray.util import ActorPool

from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult
from agentenv.rollout.jobs import EpisodeJob
from agentenv.tasks.model import Task

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class BudgetActor:
    """The run's spending, shared by every worker of the cluster."""

    def __init__(self, limit: float | None, spent: float) -> None:
        self.limit = limit
        self.total = spent

    def charge(self, cost: float) -> float:
        self.total += cost
        return self.total

    def spent(self) -> float:
        return self.total

    def exceeded(self) -> bool:
        return self.limit is not None and self.total >= self.limit


class RayBudget:
    """The Budget protocol, over the budget actor."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def charge(self, cost: float) -> None:
        ray.get(self._handle.charge.remote(cost))

    def spent(self) -> float:
        return float(ray.get(self._handle.spent.remote()))

    def exceeded(self) -> bool:
        return bool(ray.get(self._handle.exceeded.remote()))


@ray.remote(num_cpus=1)
class EpisodeWorker:
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


def run_ray(
    config: RunConfig,
    jobs: list[EpisodeJob],
    tasks: dict[str, Task],
    *,
    spent: float,
    on_result: Callable[[EpisodeResult], None],
) -> None:
    if not jobs:
        return
    started = _connect(config.address, config.workers)
    actors: list[Any] = []
    try:
        budget = BudgetActor.remote(config.cost_limit, spent)
        actors = [EpisodeWorker.remote() for _ in range(min(config.workers, len(jobs)))]
        pool = ActorPool(actors)
        dumped = config.model_dump(mode="json")
        task_dumps = {task_id: task.model_dump(mode="json") for task_id, task in tasks.items()}
        for raw in pool.map_unordered(
            lambda actor, job: actor.run.remote(job.model_dump(), dumped, config.base_dir, task_dumps[job.instance_id], budget),
            jobs,
        ):
            on_result(EpisodeResult.model_validate(raw))
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
