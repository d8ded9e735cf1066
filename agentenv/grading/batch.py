"""Grading many predictions (SWE-bench's format) into a run folder, with a content cache.

`DIR/<run_id>/<instance_id>/` gets `report.json` (SWE-bench's per-instance report),
`test_output.txt` (the log), `patch.diff` (the prediction) and `agentenv_report.json` (the
full report, agentenv's fields included); `DIR/<run_id>/report.json` is the run report.
A grade is cached under the hash of everything it depends on, so grading the same patch for
the same task again is a lookup, and a changed patch is graded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agentenv.files import describe_validation, write_atomically
from agentenv.grading.grader import GradeResult, grade
from agentenv.grading.report import InstanceReport, RunReport, run_report
from agentenv.runtime.base import Runtime
from agentenv.tasks.directives import hidden_test_command
from agentenv.tasks.model import Task

GRADER_VERSION = "4"
CACHE_DIR = Path(os.environ.get("AGENTENV_CACHE", Path.home() / ".cache" / "agentenv")) / "grades"
GOLD = "gold"


class PredictionError(ValueError):
    """A predictions file is unreadable or a prediction is invalid; names file, record, field."""


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow")

    instance_id: str
    model_name_or_path: str = "unknown"
    model_patch: str | None = None


def _validated(where: str, raw: Any) -> Prediction:
    if not isinstance(raw, dict):
        raise PredictionError(f"{where}: a prediction must be an object, got {type(raw).__name__}")
    try:
        return Prediction.model_validate(raw)
    except ValidationError as exc:
        raise PredictionError(f"{where}: {describe_validation(exc)}") from None


def load_predictions(path: str | Path) -> list[Prediction]:
    """SWE-bench predictions: .jsonl, or .json holding a list or a dict keyed by instance id."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PredictionError(f"{path}: cannot be read: {exc.strerror}") from exc
    predictions: list[Prediction] = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PredictionError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
                predictions.append(_validated(f"{path}:{number}", raw))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PredictionError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if isinstance(data, dict):
            for key, raw in data.items():
                if isinstance(raw, dict):
                    raw = {"instance_id": key, **raw}
                predictions.append(_validated(f"{path}[{key!r}]", raw))
        elif isinstance(data, list):
            predictions.extend(_validated(f"{path}[{index}]", raw) for index, raw in enumerate(data))
        else:
            raise PredictionError(f"{path}: expected a list of predictions or an object keyed by instance id")
    seen: set[str] = set()
    for prediction in predictions:
        if prediction.instance_id in seen:
            raise PredictionError(f"{path}: instance {prediction.instance_id!r} is predicted twice")
        seen.add(prediction.instance_id)
    return predictions


def gold_predictions(tasks: list[Task]) -> list[Prediction]:
    return [Prediction(instance_id=t.instance_id, model_name_or_path=GOLD, model_patch=t.patch) for t in tasks]


def cache_key(task: Task, patch: str | None, environment_id: str, strict: bool) -> str:
    material = {
        "grader": GRADER_VERSION,
        "environment": environment_id,
        "task": task.model_dump(
            mode="json",
            include={"instance_id", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "test_cmd", "log_parser"},
        ),
        "test_command": hidden_test_command(task),
        "patch": patch,
        "strict": strict,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class CachedGrade(BaseModel):
    report: InstanceReport
    test_log: str


def _cached(key: str) -> CachedGrade | None:
    path = CACHE_DIR / f"{key}.json"
    try:
        return CachedGrade.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _store(key: str, grade_result: GradeResult) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    write_atomically(CACHE_DIR / f"{key}.json", CachedGrade(report=grade_result.report, test_log=grade_result.test_log).model_dump_json())


class InstanceOutcome(BaseModel):
    instance_id: str
    report: InstanceReport
    cached: bool


def write_instance(folder: Path, instance_id: str, prediction: Prediction, report: InstanceReport, log: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.to_swebench(instance_id), indent=4) + "\n")
    (folder / "agentenv_report.json").write_text(report.model_dump_json(indent=2) + "\n")
    (folder / "test_output.txt").write_text(log, encoding="utf-8")
    (folder / "patch.diff").write_text(prediction.model_patch or "", encoding="utf-8")


def grade_predictions(
    tasks: list[Task],
    predictions: list[Prediction],
    *,
    starters: Callable[[Task], tuple[Callable[[], Runtime], str]],
    run_dir: Path,
    workers: int = 1,
    timeout: float = 1800.0,
    strict: bool = True,
    on_result: Callable[[InstanceOutcome], None] | None = None,
) -> RunReport:
    """Grade every prediction; `starters(task)` gives (a runtime factory, an id of its image)."""
    by_id = {task.instance_id: task for task in tasks}
    unknown = sorted(p.instance_id for p in predictions if p.instance_id not in by_id)
    if unknown:
        raise PredictionError(f"predictions for instances not in the task set: {', '.join(unknown[:10])}")
    run_dir.mkdir(parents=True, exist_ok=True)

    def one(prediction: Prediction) -> InstanceOutcome:
        task = by_id[prediction.instance_id]
        start, environment_id = starters(task)
        key = cache_key(task, prediction.model_patch, environment_id, strict)
        hit = _cached(key)
        if hit is not None:
            report, log, cached = hit.report, hit.test_log, True
        else:
            result = grade(task, prediction.model_patch, start, timeout=timeout, strict=strict)
            if result.report.error is None:  # a grade that could not finish is not remembered
                _store(key, result)
            report, log, cached = result.report, result.test_log, False
        write_instance(run_dir / task.instance_id, task.instance_id, prediction, report, log)
        return InstanceOutcome(instance_id=task.instance_id, report=report, cached=cached)

    reports: dict[str, InstanceReport | None] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as pool:
        futures = {pool.submit(one, p): p for p in predictions}
        for future in as_completed(futures):
            prediction = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # one broken grading never stops the others
                report = InstanceReport(patch_exists=bool(prediction.model_patch), error=f"{type(exc).__name__}: {exc}")
                outcome = InstanceOutcome(instance_id=prediction.instance_id, report=report, cached=False)
            reports[outcome.instance_id] = outcome.report
            if on_result is not None:
                on_result(outcome)
    summary = run_report(reports, [task.instance_id for task in tasks])
    (run_dir / "report.json").write_text(summary.model_dump_json(indent=4) + "\n")
    return summary
