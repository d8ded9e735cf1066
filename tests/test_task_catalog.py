"""`agentenv tasks ls` and `tasks stats`: metadata, and validation status that cannot go stale
silently (a record applies to the task as it was validated, not to a later edit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from agentenv.tasks.catalog import ValidationRecord, record_validation, task_digest
from agentenv.tasks.loader import load_tasks

from .conftest import REPO_ROOT

PATCH = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "tasks", *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


def _task_set(root: Path) -> Path:
    """Two sets under one root: `a/` with two tasks on a folder source, `b/` with one."""
    repo = root / "a" / "repos" / "calc"
    repo.mkdir(parents=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    for name, difficulty in (("add-one", "easy"), ("add-two", "hard")):
        spec = {
            "instance_id": name,
            "repo_source": "repos/calc",
            "problem_statement": "add subtracts",
            "patch": PATCH,
            "FAIL_TO_PASS": ["tests/test_calc.py::test_add"],
            "metadata": {"domain": "arithmetic", "taxonomy": "logic-error/operator", "difficulty": difficulty},
        }
        (root / "a" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (root / "b").mkdir()
    (root / "b" / "other.yaml").write_text(
        yaml.safe_dump({"instance_id": "other", "repo_source": "../a/repos/calc", "problem_statement": "p", "patch": PATCH})
    )
    return root


def _status(listing: str, instance_id: str) -> str:
    row = next(line for line in listing.splitlines() if f" {instance_id} " in line)
    return row.split("│")[-2].strip()


def test_recorded_validation_is_shown_and_goes_stale_when_the_task_changes(tmp_path: Path) -> None:
    root = _task_set(tmp_path / "sets")
    tasks = load_tasks(root)
    records = {
        t.instance_id: ValidationRecord(valid=t.instance_id != "add-two", checked_at="2026-11-23T01:00:00+00:00", task_digest=task_digest(t))
        for t in tasks
        if t.instance_id != "other"
    }
    written = record_validation(root, records)
    # Each record lands in the manifest of the set its task file is in, and only there.
    assert written == [root / "a" / "manifest.yaml"]
    assert set(yaml.safe_load(written[0].read_text())["validation"]) == {"add-one", "add-two"}

    listing = _cli("ls", str(root))
    assert listing.returncode == 0, listing.stderr
    assert _status(listing.stdout, "add-one") == "yes (2026-11-23)"
    assert _status(listing.stdout, "add-two") == "no (2026-11-23)"
    assert _status(listing.stdout, "other") == "-"

    # Rewording the problem statement does not touch what validation checked...
    spec = root / "a" / "add-one.yaml"
    raw = yaml.safe_load(spec.read_text())
    spec.write_text(yaml.safe_dump({**raw, "problem_statement": "add() gives 0 for add(1, 1)"}))
    assert _status(_cli("ls", str(root)).stdout, "add-one") == "yes (2026-11-23)"
    # ...changing the tests does, and so does changing the repository the tasks start from.
    spec.write_text(yaml.safe_dump({**raw, "FAIL_TO_PASS": ["tests/test_calc.py::test_other"]}))
    assert _status(_cli("ls", str(root)).stdout, "add-one") == "stale (2026-11-23)"
    (root / "a" / "repos" / "calc" / "calc.py").write_text("def add(a, b):\n    return a * b\n")
    assert _status(_cli("ls", str(root)).stdout, "add-two") == "stale (2026-11-23)"


def test_stats_counts_by_package_taxonomy_and_difficulty(tmp_path: Path) -> None:
    done = _cli("stats", str(_task_set(tmp_path / "sets")))
    assert done.returncode == 0, done.stderr
    assert "3 tasks in" in done.stdout
    counts = {tuple(cell.strip() for cell in line.split("│")[1:3]) for line in done.stdout.splitlines() if line.startswith("│")}
    assert {("calc", "3"), ("logic-error/operator", "2"), ("easy", "1"), ("hard", "1"), ("(none)", "1")} <= counts


def test_a_broken_manifest_is_named_not_a_crash(tmp_path: Path) -> None:
    root = _task_set(tmp_path / "sets")
    (root / "a" / "manifest.yaml").write_text("name: a\nvalidation:\n  add-one: {valid: maybe}\n")
    done = _cli("ls", str(root))
    assert done.returncode == 2
    assert "a/manifest.yaml" in done.stderr and "validation.add-one.valid" in done.stderr
    assert "Traceback" not in done.stderr


def test_recording_keeps_what_other_tools_wrote_and_ignores_manifests_of_sources(tmp_path: Path) -> None:
    root = _task_set(tmp_path / "sets")
    # A project's own manifest.yaml inside a task's source is not a task set's manifest.
    (root / "a" / "repos" / "calc" / "manifest.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    (root / "a" / "manifest.yaml").write_text("owner: evals-team\nvalidation:\n  add-one: {valid: true, checked_at: '2026-01-01', note: by hand}\n")
    (task,) = [t for t in load_tasks(root) if t.instance_id == "add-two"]
    record_validation(root, {"add-two": ValidationRecord(valid=True, checked_at="2026-11-23T01:00:00+00:00", task_digest=task_digest(task))})
    manifest = yaml.safe_load((root / "a" / "manifest.yaml").read_text())
    assert manifest["owner"] == "evals-team" and manifest["name"] == "a"
    assert manifest["validation"]["add-one"]["note"] == "by hand" and manifest["validation"]["add-two"]["valid"]
    listing = _cli("ls", str(root))
    assert listing.returncode == 0, listing.stderr
    assert _status(listing.stdout, "add-one") == "yes (2026-01-01)"  # a record from before digests


def test_validate_records_a_task_whose_environment_cannot_be_made_and_goes_on(tmp_path: Path) -> None:
    root = _task_set(tmp_path / "sets")
    (root / "b" / "other.yaml").write_text(
        yaml.safe_dump({"instance_id": "other", "repo_source": "repos/gone", "problem_statement": "p", "patch": PATCH, "FAIL_TO_PASS": ["t.py::t"]})
    )
    done = _cli("validate", str(root / "b"), "--runtime", "local", "--runs", "1", "--record")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    record = yaml.safe_load((root / "b" / "manifest.yaml").read_text())["validation"]["other"]
    assert not record["valid"] and "its environment cannot be made" in record["reasons"][0]
    assert record["task_digest"] is None
    assert _status(_cli("ls", str(root)).stdout, "other") == "unknown: source unreadable (" + record["checked_at"][:10] + ")"
