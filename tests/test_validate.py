"""`agentenv tasks validate`: sound tasks pass; broken and flaky ones are named, with reasons."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.validate import validate_task
from agentenv.tasks.model import Task

from .conftest import DEMO_TASKS, REPO_ROOT


def test_demo_tasks_are_valid_and_the_result_is_recorded(docker_provisioned, tmp_path: Path) -> None:
    demo = tmp_path / "demo"  # a copy, so recording does not write into the checkout
    shutil.copytree(DEMO_TASKS, demo, ignore=shutil.ignore_patterns("manifest.yaml"))
    output = tmp_path / "validation.json"
    done = subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "tasks", "validate", str(demo), "--runs", "2", "--output", str(output), "--record"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(output.read_text())
    assert results and all(r["valid"] and not r["reasons"] and not r["flaky"] for r in results)
    assert all(set(r["before"].values()) <= {"PASSED", "FAILED", "ERROR"} for r in results)
    manifest = yaml.safe_load((demo / "manifest.yaml").read_text())
    assert set(manifest["validation"]) == {r["instance_id"] for r in results}
    assert all(record["valid"] and record["runs"] == 2 and record["task_digest"] for record in manifest["validation"].values())


def test_a_fail_to_pass_test_that_already_passes_is_rejected(docker_provisioned, demo_task: Task) -> None:
    already_passing = demo_task.PASS_TO_PASS[0]
    broken = demo_task.model_copy(update={"FAIL_TO_PASS": [*demo_task.FAIL_TO_PASS, already_passing]})
    result = validate_task(broken, docker_provisioned[demo_task.instance_id].start)
    assert not result.valid
    assert result.reasons == [f"FAIL_TO_PASS tests already pass without the reference patch: {already_passing}"]


def test_a_reference_patch_that_does_not_resolve_is_rejected(docker_provisioned, demo_task: Task) -> None:
    half = demo_task.patch.split("diff --git")[1]  # only the first file of a two-file fix
    broken = demo_task.model_copy(update={"patch": "diff --git" + half})
    result = validate_task(broken, docker_provisioned[demo_task.instance_id].start)
    assert not result.valid and any(r.startswith("tests that do not pass with the reference patch") for r in result.reasons)


def test_a_flaky_test_is_flagged(tmp_path: Path) -> None:
    # The hidden test fails on its 2nd, 5th, 8th... run: a counter outside the repo
    # (the host's /tmp, since this uses the local runtime) survives from run to run.
    counter = f"/tmp/agentenv-flaky-{uuid.uuid4().hex}"
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "tests" / "test_calc.py").write_text("from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n")
    hidden = (
        "import os\n\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n\n\n"
        "def test_flaky():\n"
        f"    path = {counter!r}\n"
        "    count = int(open(path).read()) if os.path.exists(path) else 0\n"
        "    open(path, 'w').write(str(count + 1))\n"
        "    assert count % 3 != 1\n"
    )
    test_patch = (
        "diff --git a/tests/test_hidden.py b/tests/test_hidden.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_hidden.py\n"
        f"@@ -0,0 +1,{len(hidden.splitlines())} @@\n" + "".join(f"+{line}\n" for line in hidden.splitlines())
    )
    patch = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
    task = Task(
        instance_id="flaky-1", repo_source=str(repo), problem_statement="add subtracts", patch=patch, test_patch=test_patch,
        FAIL_TO_PASS=["tests/test_hidden.py::test_add"], PASS_TO_PASS=["tests/test_calc.py::test_zero", "tests/test_hidden.py::test_flaky"],
        test_cmd="python -m pytest -rA -p no:cacheprovider tests",
    )
    result = validate_task(task, provision(task, RuntimeSettings(kind="local")).start, runs=2)
    assert not result.valid
    assert result.flaky == ["tests/test_hidden.py::test_flaky"]
    assert any(r.startswith("flaky tests (their status changed across 2 runs): tests/test_hidden.py::test_flaky") for r in result.reasons)
