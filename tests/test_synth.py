"""Synthesizing tasks from a small real package, end to end, on the Docker runtime."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import grade
from agentenv.synth.problem import bug_report
from agentenv.tasks.loader import load_tasks

from .conftest import REPO_ROOT

PACKAGE = "pypi:inflection==0.5.1"  # one module, ~450 fast tests, a test file at the top level


def test_synth_makes_valid_tasks_from_a_real_package(base_image, tmp_path: Path) -> None:
    out = tmp_path / "inflection"
    done = subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "tasks", "synth", PACKAGE, "--out", str(out), "--n", "2", "--seed", "3"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=1200,
    )
    assert done.returncode == 0, done.stderr
    specs = sorted(out.glob("inflection-*.yaml"))
    assert len(specs) == 2
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert set(manifest["validation"]) == {p.stem for p in specs}
    assert all(record["valid"] for record in manifest["validation"].values())

    for spec in specs:
        raw = yaml.safe_load(spec.read_text())
        # The spec names the package; no third-party test code is stored in it.
        assert raw["repo_source"] == PACKAGE and "test_patch" not in raw and raw["hidden_tests"]
        # The bug report speaks of behaviour, never of the mutation: no diff, no line numbers.
        statement = raw["problem_statement"]
        assert "@@" not in statement and not re.search(r"\.py:\d+", statement) and "line " not in statement
        (task,) = load_tasks(spec)
        assert task.test_patch.startswith("diff --git a/test_inflection.py")
        assert all(test.startswith("test_inflection.py::") for test in task.FAIL_TO_PASS)
        provisioned = provision(task, RuntimeSettings(kind="docker"))
        runtime = provisioned.start()
        try:
            # The agent's repository has the bug and lacks the hidden test file.
            assert runtime.run("test -e test_inflection.py").exit_code == 1
            assert runtime.run("git log --oneline | wc -l").output.strip() == "1"
        finally:
            runtime.close()
        assert grade(task, task.patch, provisioned.start).report.resolved
        assert not grade(task, "", provisioned.start).report.resolved


def test_bug_reports_are_written_from_the_failing_output() -> None:
    log = (
        "=================================== FAILURES ===================================\n"
        "______________________ test_clamp[5-0-3] ______________________\n\n"
        "    def test_clamp(v, lo, hi):\n"
        ">       assert clamp(v, lo, hi) == 3\n"
        "E       assert 5 == 3\n"
        "E        +  where 5 = clamp(5, 0, 3)\n\n"
        "tests/test_clamp.py:12: AssertionError\n"
        "=========================== short test summary info ============================\n"
        "FAILED tests/test_clamp.py::test_clamp[5-0-3] - assert 5 == 3\n"
    )
    report = bug_report("clamps", "1.0", ["tests/test_clamp.py::test_clamp[5-0-3]"], log)
    assert report.startswith("Wrong results from clamps 1.0")
    assert "assert clamp(v, lo, hi) == 3" in report and "assert 5 == 3\n +  where 5 = clamp(5, 0, 3)" in report
    assert "test_clamp.py:12" not in report and "tests/" not in report


def test_a_source_that_is_not_a_pinned_release_on_the_index_is_named(tmp_path: Path) -> None:
    for source, expected in (
        ("pypi:inflection", "'pypi:inflection' is not of the form pypi:NAME==VERSION"),
        ("inflection==0.5.1", "is not of the form pypi:NAME==VERSION"),
        ("pypi:agentenv-no-such-package-7f3a==1.0", "no package named 'agentenv-no-such-package-7f3a' on"),
        ("pypi:inflection==99.0", "no source distribution of inflection==99.0 on"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "agentenv.cli.main", "tasks", "synth", source, "--out", str(tmp_path / "out")],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
        )
        assert done.returncode == 1, (source, done.stderr)
        assert expected in " ".join(done.stderr.split()), (source, done.stderr)
        assert "Traceback" not in done.stderr
