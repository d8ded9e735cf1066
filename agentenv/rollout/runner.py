"""Running every task of a config: jobs (task x sample), a backend that runs them, a run folder.

The run folder (`<output>/<run_id>/`) holds a trajectory per job, `predictions.jsonl`
(SWE-bench's prediction fields, first sample), `report.json` (SWE-bench's run-report fields,
plus pass@k when there are several samples, the cost and the total spent), `config.json` and
the spending ledger. Running the same run id again resumes: a job whose trajectory has a footer
is skipped unless the footer says the episode was cut short (`jobs.RETRY_ON_RESUME`), any
other is run (again), with the same config (`resume`) and what earlier attempts spent counted
against the run's cost limit (`ledger`). A stop (`RunStop`, e.g. SIGINT) ends the episodes in
flight and still writes the run's files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentenv.agents.budget import SharedBudget
from agentenv.files import write_atomically
from agentenv.grading.metrics import pass_at_k
from agentenv.grading.report import InstanceReport, run_report
from agentenv.rollout.attempt import INTERRUPTED, end_unfinished
from agentenv.rollout.config import RunConfig
from agentenv.rollout.episode import EpisodeResult
from agentenv.rollout.jobs import EpisodeJob, finished_result, plan_jobs
from agentenv.rollout.ledger import LEDGER_FILE, SpendingLedger, carry_over, read_ledger, total
from agentenv.rollout.local_backend import run_local
from agentenv.rollout.resume import record_config
from agentenv.rollout.stop import RunStop
from agentenv.tasks.loader import load_tasks
from agentenv.trajectory.model import timestamped_run_id

log = logging.getLogger(__name__)


class RunSummary(BaseModel):
    run_id: str
    run_dir: str
    episodes: list[EpisodeResult]
    report: dict[str, Any]
    # Why the run stopped before its end (e.g. "the run was interrupted (SIGINT)"), if it did.
    interrupted: str | None = None
    # Jobs that were not run because the run stopped first.
    not_started: int = 0
    # Settings that changed since the run was started (a resume with allow_config_change).
    config_changes: list[str] = []


def pass_at_ks(results: list[EpisodeResult], samples: int) -> dict[str, float]:
    """Mean unbiased pass@k over the tasks, for k = 1..samples."""
    by_task: dict[str, list[bool]] = {}
    for result in results:
        by_task.setdefault(result.instance_id, []).append(result.resolved)
    scores = {}
    for k in range(1, samples + 1):
        values = [pass_at_k(len(r), sum(r), k) for r in by_task.values() if len(r) >= k]
        scores[str(k)] = sum(values) / len(values) if values else 0.0
    return scores


def write_run_files(
    run_dir: Path, model_name: str, results: list[EpisodeResult], all_ids: list[str], samples: int, spent: float
) -> dict[str, Any]:
    # An interrupted episode made no prediction: it is left out, and counted as incomplete.
    first = sorted((r for r in results if r.sample == 0 and r.exit_status != INTERRUPTED), key=lambda r: r.instance_id)
    predictions = [
        {"instance_id": r.instance_id, "model_name_or_path": model_name, "model_patch": r.submission or ""} for r in first
    ]
    write_atomically(run_dir / "predictions.jsonl", "".join(json.dumps(p) + "\n" for p in predictions))
    reports: dict[str, InstanceReport | None] = {
        r.instance_id: InstanceReport.model_validate(r.grade) if r.grade else None for r in first
    }
    report: dict[str, Any] = run_report(reports, all_ids).model_dump()
    # What the episodes in this report cost, and what the run spent in all (with attempts that
    # were re-run: interrupted, failed, superseded).
    report["total_cost"] = round(sum(r.cost for r in results), 6)
    report["total_spent"] = round(spent, 6)
    if samples > 1:
        report["samples"] = samples
        report["pass_at_k"] = pass_at_ks(results, samples)
        write_atomically(
            run_dir / "samples.jsonl",
            "".join(
                json.dumps({"instance_id": r.instance_id, "sample": r.sample, "resolved": r.resolved, "model_patch": r.submission or ""})
                + "\n"
                for r in sorted(results, key=lambda r: (r.instance_id, r.sample))
            ),
        )
    write_atomically(run_dir / "report.json", json.dumps(report, indent=2) + "\n")
    return report


def _model_name(config: RunConfig) -> str:
    return getattr(config.agent, "model", None) or config.agent.type


def run(
    config: RunConfig,
    *,
    config_name: str = "run",
    on_episode: Callable[[EpisodeResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    stop: RunStop | None = None,
    allow_config_change: bool = False,
) -> RunSummary:
    """Run every unfinished job of `config`; `on_episode` hears of each as it ends.

    A resume with settings that change results raises `ConfigChanged` unless
    `allow_config_change`. `stop.request(...)` (from a signal handler, another thread) ends
    the run early: see `RunSummary.interrupted`."""
    stop = stop or RunStop()
    tasks = load_tasks(config.path(config.tasks))
    if config.instance_ids is not None:
        unknown = sorted(set(config.instance_ids) - {t.instance_id for t in tasks})
        if unknown:
            raise ValueError(f"instance_ids not in {config.tasks}: {', '.join(unknown)}")
        tasks = [t for t in tasks if t.instance_id in set(config.instance_ids)]
    run_id = config.run_id or timestamped_run_id(config_name)
    run_dir = config.path(config.output) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    changes = record_config(run_dir, config, allow_change=allow_config_change)

    jobs = plan_jobs(tasks, config.samples, run_dir, run_id)
    results: dict[tuple[str, int], EpisodeResult] = {}
    pending: list[EpisodeJob] = []
    for job in jobs:
        done = finished_result(job)
        if done is not None:
            results[(job.instance_id, job.sample)] = done
        else:
            pending.append(job)
    if on_start is not None:
        on_start(len(results), len(pending))

    # Every attempt's spending counts against the run's limit, re-run ones included.
    carry_over(run_dir, [Path(job.trajectory_path) for job in jobs])
    ledger_path = run_dir / LEDGER_FILE
    charges = read_ledger(ledger_path)
    spent = total(charges)
    # A trajectory without a footer is an episode whose process died under it (SIGKILL, a
    # crash): say so in it before it is kept aside and run again.
    for job in pending:
        end_unfinished(
            Path(job.trajectory_path),
            INTERRUPTED,
            "the run's process ended during this episode (killed?); a resumed run ran it again",
            lambda header: total(c for c in charges if c.attempt_id == getattr(header, "attempt_id", None)),
        )
    tasks_by_id = {task.instance_id: task for task in tasks}
    ran: set[tuple[str, int]] = set()

    def record(result: EpisodeResult) -> None:
        results[(result.instance_id, result.sample)] = result
        ran.add((result.instance_id, result.sample))
        if on_episode is not None:
            on_episode(result)

    if config.backend == "ray":
        from agentenv.rollout.ray_backend import run_ray  # ray is an optional extra

        run_ray(config, pending, tasks_by_id, spent=spent, ledger=ledger_path, on_result=record, stop=stop)
    else:
        ledger = SpendingLedger(ledger_path)
        try:
            budget = SharedBudget(config.cost_limit, spent, log=ledger.append)
            run_local(config, pending, tasks_by_id, budget, on_result=record, stop=stop)
        finally:
            ledger.close()

    ordered = [results[(j.instance_id, j.sample)] for j in jobs if (j.instance_id, j.sample) in results]
    spent_in_all = total(read_ledger(ledger_path))
    report = write_run_files(
        run_dir, _model_name(config), ordered, [t.instance_id for t in tasks], config.samples, spent_in_all
    )
    return RunSummary(
        run_id=run_id,
        run_dir=str(run_dir),
        episodes=ordered,
        report=report,
        interrupted=stop.reason,
        not_started=sum(1 for j in pending if (j.instance_id, j.sample) not in ran),
        config_changes=changes,
    )
