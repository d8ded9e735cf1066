"""Running every task of a config: a pool of workers, one env per episode, a run folder.

The run folder (`<output>/<run_id>/`) holds a trajectory per instance, `predictions.jsonl`
(SWE-bench's prediction fields) and `report.json` (SWE-bench's run-report fields). Running
the same run id again skips the episodes whose trajectory has a footer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from agentenv.agents.base import Agent
from agentenv.agents.oracle import OracleAgent
from agentenv.env.swe_env import SWEEnv
from agentenv.grading.report import InstanceReport, RunReport, run_report
from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult, run_episode
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task
from agentenv.trajectory.recorder import TrajectoryError, read_trajectory

log = logging.getLogger(__name__)


class RunSummary(BaseModel):
    run_id: str
    run_dir: str
    episodes: list[EpisodeResult]
    report: RunReport


def default_run_id(config_name: str) -> str:
    return f"{config_name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def make_agent(config: RunConfig, tasks: dict[str, Task]) -> Agent:
    if config.agent.type == "oracle":
        return OracleAgent(tasks)
    raise ValueError(f"unknown agent type {config.agent.type!r}")


def _finished_episode(path: Path) -> EpisodeResult | None:
    """The result recorded in a finished trajectory, or None (missing, unfinished, broken)."""
    if not path.exists():
        return None
    try:
        trajectory = read_trajectory(path)
    except TrajectoryError as exc:
        log.warning("%s will be run again: %s", path, exc)
        return None
    footer = trajectory.footer
    if footer is None:
        return None
    return EpisodeResult(
        instance_id=trajectory.header.instance_id,
        exit_status=footer.exit_status,
        steps=footer.steps,
        resolved=footer.resolved,
        submission=footer.submission,
        grade=footer.grade,
        cost=footer.cost,
        error=footer.error,
        trajectory=str(path),
    )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run_files(run_dir: Path, model_name: str, results: list[EpisodeResult], all_ids: list[str]) -> RunReport:
    predictions = [
        {"instance_id": r.instance_id, "model_name_or_path": model_name, "model_patch": r.submission or ""}
        for r in sorted(results, key=lambda r: r.instance_id)
    ]
    _write_atomically(run_dir / "predictions.jsonl", "".join(json.dumps(p) + "\n" for p in predictions))
    reports: dict[str, InstanceReport | None] = {
        r.instance_id: InstanceReport.model_validate(r.grade) if r.grade else None for r in results
    }
    report = run_report(reports, all_ids)
    _write_atomically(run_dir / "report.json", report.model_dump_json(indent=2) + "\n")
    return report


def run(
    config: RunConfig,
    *,
    config_name: str = "run",
    on_episode: Callable[[EpisodeResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Run every unfinished episode of `config`; `on_episode` hears of each as it ends."""
    tasks = load_tasks(config.path(config.tasks))
    if config.instance_ids is not None:
        unknown = sorted(set(config.instance_ids) - {t.instance_id for t in tasks})
        if unknown:
            raise ValueError(f"instance_ids not in {config.tasks}: {', '.join(unknown)}")
        tasks = [t for t in tasks if t.instance_id in set(config.instance_ids)]
    by_id = {task.instance_id: task for task in tasks}
    run_id = config.run_id or default_run_id(config_name)
    run_dir = config.path(config.output) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(run_dir / "config.json", config.model_dump_json(indent=2) + "\n")

    results: dict[str, EpisodeResult] = {}
    pending: list[Task] = []
    for task in tasks:
        done = _finished_episode(run_dir / f"{task.instance_id}.jsonl")
        if done is not None:
            results[task.instance_id] = done
        else:
            pending.append(task)
    if on_start is not None:
        on_start(len(results), len(pending))

    config_dump = config.model_dump(mode="json")
    labels = {"agentenv.run_id": run_id}
    lock = threading.Lock()

    def episode(task: Task) -> EpisodeResult:
        env = SWEEnv(
            [task],
            runtime=config.runtime,
            max_steps=config.max_steps,
            aci=config.aci,
            limits=config.limits,
            tools=[config.path(folder) for folder in config.tools],
            grading_timeout=config.grading_timeout,
            reward=config.reward,
            labels=labels,
            spare_runtime=False,  # one episode per env: a spare would never be used
        )
        try:
            return run_episode(
                env,
                make_agent(config, by_id),
                task.instance_id,
                run_id=run_id,
                trajectory_path=run_dir / f"{task.instance_id}.jsonl",
                config=config_dump,
                seed=config.seed,
                log_dir=run_dir / "logs",
            )
        finally:
            env.close()

    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="episode") as pool:
        futures = {pool.submit(episode, task): task for task in pending}
        for future in as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # one broken episode never stops the run
                log.error("%s could not run: %s", task.instance_id, exc)
                (run_dir / "logs").mkdir(exist_ok=True)
                (run_dir / "logs" / f"{task.instance_id}.error.log").write_text(
                    "".join(traceback.format_exception(exc)), encoding="utf-8"
                )
                result = EpisodeResult(
                    instance_id=task.instance_id,
                    exit_status="env_error",
                    steps=0,
                    resolved=False,
                    submission=None,
                    grade=None,
                    error=f"{type(exc).__name__}: {exc}",
                    trajectory=str(run_dir / f"{task.instance_id}.jsonl"),
                )
            with lock:
                results[task.instance_id] = result
            if on_episode is not None:
                on_episode(result)

    ordered = [results[t.instance_id] for t in tasks if t.instance_id in results]
    report = write_run_files(run_dir, config.agent.type, ordered, [t.instance_id for t in tasks])
    return RunSummary(run_id=run_id, run_dir=str(run_dir), episodes=ordered, report=report)
