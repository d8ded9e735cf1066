"""`agentenv grade`: SWE-bench predictions in, SWE-bench reports out, cached by content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentenv.cli.common import runtime_starters
from agentenv.grading.batch import Prediction, PredictionError, grade_predictions, load_predictions
from agentenv.tasks.model import Task

from .conftest import DEMO_TASKS, REPO_ROOT

SWEBENCH_INSTANCE_KEYS = ["patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status"]


def _grade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "grade", *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900, env={"COLUMNS": "200", **__import__("os").environ},
    )


def test_gold_resolves_every_task_with_swebench_reports(docker_provisioned, demo_tasks: list[Task], tmp_path: Path) -> None:
    done = _grade("--tasks", str(DEMO_TASKS), "--predictions", "gold", "--output", str(tmp_path), "--run-id", "gold", "--workers", "2")
    assert done.returncode == 0, done.stderr
    run = json.loads((tmp_path / "gold" / "report.json").read_text())
    ids = sorted(t.instance_id for t in demo_tasks)
    assert run["resolved_ids"] == ids and run["error_ids"] == [] and run["empty_patch_ids"] == []
    for instance_id in ids:
        folder = tmp_path / "gold" / instance_id
        report = json.loads((folder / "report.json").read_text())
        assert list(report) == [instance_id]
        assert list(report[instance_id]) == SWEBENCH_INSTANCE_KEYS
        assert set(report[instance_id]["tests_status"]) == {"FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"}
        assert report[instance_id]["resolved"] is True
        assert "passed" in (folder / "test_output.txt").read_text()


def test_empty_patches_resolve_none(docker_provisioned, demo_tasks: list[Task], tmp_path: Path) -> None:
    predictions = tmp_path / "empty.jsonl"
    predictions.write_text("".join(
        json.dumps({"instance_id": t.instance_id, "model_name_or_path": "m", "model_patch": ""}) + "\n" for t in demo_tasks
    ))
    done = _grade("--tasks", str(DEMO_TASKS), "--predictions", str(predictions), "--output", str(tmp_path), "--run-id", "empty")
    assert done.returncode == 0, done.stderr
    run = json.loads((tmp_path / "empty" / "report.json").read_text())
    assert run["resolved_instances"] == 0
    assert run["empty_patch_ids"] == sorted(t.instance_id for t in demo_tasks)


def test_prediction_file_formats(tmp_path: Path) -> None:
    records = [{"instance_id": "a", "model_name_or_path": "m", "model_patch": "diff"}, {"instance_id": "b", "model_patch": None}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "list.json").write_text(json.dumps(records))
    (tmp_path / "dict.json").write_text(json.dumps({r["instance_id"]: {k: v for k, v in r.items() if k != "instance_id"} for r in records}))
    for name in ("p.jsonl", "list.json", "dict.json"):
        loaded = load_predictions(tmp_path / name)
        assert [(p.instance_id, p.model_patch) for p in loaded] == [("a", "diff"), ("b", None)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"instance_id": "a"}\nnot json\n', r"bad\.jsonl:2: not valid JSON"),
        ("bad.jsonl", '{"model_patch": "x"}\n', r"bad\.jsonl:1: field `instance_id`: Field required"),
        ("bad.jsonl", '{"instance_id": "a"}\n{"instance_id": "a"}\n', r"predicted twice"),
        ("bad.json", '"a string"', r"expected a list of predictions or an object"),
        ("bad.json", '[1]', r"bad\.json\[0\]: a prediction must be an object"),
    ],
)
def test_bad_predictions_are_reported_with_where(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(PredictionError, match=message):
        load_predictions(tmp_path / name)


def test_unknown_instances_are_an_error(demo_tasks: list[Task], tmp_path: Path) -> None:
    with pytest.raises(PredictionError, match="not in the task set: nope"):
        grade_predictions(demo_tasks, [Prediction(instance_id="nope", model_patch="x")], starters=runtime_starters("local"), run_dir=tmp_path)


def test_grades_are_cached_by_patch_content(docker_provisioned, demo_task: Task, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("agentenv.grading.batch.CACHE_DIR", tmp_path / "cache")
    outcomes = []
    starters = runtime_starters("docker")

    def grade_once(patch: str, run: str) -> None:
        grade_predictions([demo_task], [Prediction(instance_id=demo_task.instance_id, model_patch=patch)],
                          starters=starters, run_dir=tmp_path / run, on_result=outcomes.append)

    grade_once(demo_task.patch, "first")
    grade_once(demo_task.patch, "second")
    changed = demo_task.patch.replace("+    def hull", "+    def hull_renamed", 1)
    assert changed != demo_task.patch
    grade_once(changed, "third")
    assert [(o.cached, o.report.resolved) for o in outcomes] == [(False, True), (True, True), (False, False)]
    assert json.loads((tmp_path / "second" / demo_task.instance_id / "report.json").read_text())[demo_task.instance_id]["resolved"]
