"""The task sets this repository ships: what they hold, and that every task is sound.

Every shipped task must validate on the Docker runtime (its reference patch resolves it, its
FAIL_TO_PASS tests fail without it, its PASS_TO_PASS tests pass before and after), and the
oracle must resolve them through `agentenv run` (every hand-made task, one synthesized task per
package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentenv.tasks.catalog import package_of, read_manifests, validation_status
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

from .conftest import REPO_ROOT

TASKS = REPO_ROOT / "tasks"


@pytest.fixture(scope="module")
def shipped() -> list[Task]:
    return load_tasks(TASKS)


def _cli(*args: str, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", *args], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=timeout, env={**os.environ, "COLUMNS": "200"},
    )


def test_the_sets_hold_what_the_project_promises(shipped: list[Task]) -> None:
    synthesized = [t for t in shipped if (t.metadata.taxonomy or "").startswith("synthetic/")]
    assert len(synthesized) >= 30
    assert len({package_of(t) for t in synthesized}) >= 5
    # Every shipped task is recorded as validated, as it is now: editing a task without
    # validating it again (`agentenv tasks validate tasks/ --record`) makes its record stale.
    validation = read_manifests(TASKS)
    status = {t.instance_id: validation_status(t, validation.get(t.instance_id)) for t in shipped}
    assert all(s.startswith("yes (") for s in status.values()), {i: s for i, s in status.items() if not s.startswith("yes (")}
    assert all(validation[t.instance_id].task_digest for t in shipped)
    for task in synthesized:
        assert task.hidden_tests and not yaml.safe_load((TASKS / "synth" / f"{task.instance_id}.yaml").read_text()).get("test_patch")
        assert task.metadata.taxonomy.startswith("synthetic/") and task.metadata.difficulty
    authored = [t for t in shipped if t.instance_id.startswith("authored-")]
    assert len(authored) >= 5
    for task in authored:
        assert task.requirements and task.patch and task.test_patch
        assert task.metadata.domain and task.metadata.taxonomy and task.metadata.difficulty and task.metadata.language == "python"


def test_every_shipped_task_validates_on_docker(base_image, tmp_path: Path) -> None:
    output = tmp_path / "validation.json"
    done = _cli("tasks", "validate", str(TASKS), "--runs", "1", "--workers", "2", "--output", str(output))
    results = json.loads(output.read_text()) if output.exists() else []
    invalid = {r["instance_id"]: r["reasons"] for r in results if not r["valid"]}
    assert done.returncode == 0 and not invalid, invalid or done.stderr[-3000:]
    assert len(results) == len(load_tasks(TASKS))


def _through_the_environment(shipped: list[Task]) -> list[Task]:
    """Every task that is not synthesized, and the first synthesized task of each package: a
    synthesized task is a one-line mutation like its siblings, so one per package exercises
    its repository through the environment; validation (above) grades every task."""
    chosen, synthesized_packages = [], set()
    for task in shipped:
        if not (task.metadata.taxonomy or "").startswith("synthetic/"):
            chosen.append(task)
        elif package_of(task) not in synthesized_packages:
            chosen.append(task)
            synthesized_packages.add(package_of(task))
    return chosen


def test_the_oracle_resolves_the_shipped_tasks_through_the_environment(
    base_image, shipped: list[Task], tmp_path: Path
) -> None:
    # Empty patches are not graded here: validation shows FAIL_TO_PASS failing without the
    # reference patch, which is what an empty patch is graded on.
    chosen = _through_the_environment(shipped)
    config = tmp_path / "all.yaml"
    config.write_text(json.dumps({
        "tasks": str(TASKS), "runtime": "docker", "workers": 2, "max_steps": 60, "output": str(tmp_path),
        "instance_ids": [t.instance_id for t in chosen],
    }))
    done = _cli("run", str(config), "--run-id", "oracle")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "oracle" / "report.json").read_text())
    assert report["resolved_instances"] == report["total_instances"] == len(chosen), report["unresolved_ids"]


def test_the_sets_are_described_offline_with_an_empty_cache(tmp_path: Path) -> None:
    # `tasks ls` and `tasks stats` do not fetch sdists: nowhere to fetch from, nothing cached.
    offline = {**os.environ, "COLUMNS": "220", "AGENTENV_CACHE": str(tmp_path), "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}
    outputs = {}
    for command in ("ls", "stats"):
        done = subprocess.run(
            [sys.executable, "-m", "agentenv.cli.main", "tasks", command, str(TASKS)],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, env=offline,
        )
        assert done.returncode == 0, done.stderr
        outputs[command] = done.stdout
    statuses = [line.split("│")[-2].strip() for line in outputs["ls"].splitlines() if line.startswith("│")]
    assert len(statuses) == len(load_tasks(TASKS)) and all(s.startswith("yes (") for s in statuses)
    assert f"{len(statuses)} tasks in" in outputs["stats"]
    assert not list(tmp_path.rglob("*.tar.gz"))
