"""Synthesizing tasks from a small real package, end to end, on the Docker runtime."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import grade
from agentenv.synth.problem import bug_report
from agentenv.tasks.directives import hidden_test_command
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
        fixed = grade(task, task.patch, provisioned.start)
        assert fixed.report.resolved
        assert not grade(task, "", provisioned.start).report.resolved
        # The test command names no folder: the hidden run names the hidden file (the
        # directives), and PASS_TO_PASS is every other test of it that passes without the bug.
        assert task.test_cmd == "python -m pytest -rA -p no:cacheprovider -o addopts=''"
        assert hidden_test_command(task) == task.test_cmd + " test_inflection.py"
        passing = {t for t, s in fixed.statuses.items() if s in ("PASSED", "XFAIL")}
        assert set(task.PASS_TO_PASS) == passing - set(task.FAIL_TO_PASS)
        assert len(task.PASS_TO_PASS) > 25  # not a sample


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


CHAINED_FAILURE = """\
_________________________________ test_lookup[{case}] _________________________________

table = {1: 'a'}, key = 1

    def lookup(table, key):
        try:
>           return table[key + 1]
                   ^^^^^^^^^^^^^^
E           KeyError: 2

pkg/mod.py:3: KeyError

During handling of the above exception, another exception occurred:

    def test_lookup(k):
>       assert lookup(
            {1: "a"}, k
        ) == "a"

tests/test_mod.py:3: \n\
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def lookup(table, key):
        try:
            return table[key + 1]
        except KeyError:
>           raise LookupError(f"no {key} in <Table at 0x7f3a2b1c9d80> (see pkg/mod.py:5)")
E           LookupError: no 1 in <Table at 0x7f3a2b1c9d80> (see pkg/mod.py:5)

pkg/mod.py:5: LookupError
"""


def test_bug_reports_never_quote_the_package_code_around_the_bug() -> None:
    # A chained exception's traceback starts inside the package, at the mutated line.
    log = "=" * 20 + " FAILURES " + "=" * 20 + "\n" + CHAINED_FAILURE.replace("{case}", "1") + CHAINED_FAILURE.replace("{case}", "2")
    report = bug_report("pkg", "1.0", ["tests/test_mod.py::test_lookup[1]", "tests/test_mod.py::test_lookup[2]"], log)
    assert "table[key + 1]" not in report and "raise LookupError" not in report
    # The test's own statement, whole, though it spans lines.
    assert '```python\nassert lookup(\n    {1: "a"}, k\n) == "a"\n```' in report
    assert "KeyError: 2\nLookupError: no 1 in <Table at 0x…> (see <path>)" in report
    # Parametrized cases that fail the same way are shown once.
    assert report.count("When checking that lookup works") == 1


def _pristine_tree_in(cache: Path, source: str) -> subprocess.CompletedProcess[str]:
    """`pristine_tree` in a fresh process whose cache is `cache` (the cache path is read at import)."""
    code = (
        "import sys\n"
        "from agentenv.tasks.pypi import PypiSourceError, parse_spec, pristine_tree\n"
        "try:\n"
        f"    print(pristine_tree(parse_spec({source!r}))[0])\n"
        "except PypiSourceError as exc:\n"
        "    sys.exit(f'error: {exc}')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, "AGENTENV_CACHE": str(cache)}
    )


def test_the_sdist_cache_hands_back_only_the_release_asked_for(tmp_path: Path) -> None:
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    release = tmp_path / "agentenv-absent-pkg-1.0.1"
    release.mkdir()
    (release / "VERSION").write_text("1.0.1\n")
    with tarfile.open(sdists / "agentenv-absent-pkg-1.0.1.tar.gz", "w:gz") as archive:
        archive.add(release, arcname=release.name)
    # 1.0.1 is cached; 1.0 is not, and the index has no such package.
    done = _pristine_tree_in(tmp_path, "pypi:agentenv-absent-pkg==1.0")
    assert done.returncode != 0 and "no package named 'agentenv-absent-pkg'" in done.stderr, done.stdout + done.stderr
    done = _pristine_tree_in(tmp_path, "pypi:agentenv-absent-pkg==1.0.1")
    assert done.returncode == 0, done.stderr
    assert (Path(done.stdout.strip()) / "VERSION").read_text() == "1.0.1\n"


def test_a_damaged_cached_sdist_is_named_with_what_to_do(tmp_path: Path) -> None:
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    whole = sdists / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as archive:
        archive.add(REPO_ROOT / "README.md", arcname="agentenv-absent-pkg-2.0/README.md")
    (sdists / "agentenv-absent-pkg-2.0.tar.gz").write_bytes(whole.read_bytes()[:40])  # a cut-off download
    done = _pristine_tree_in(tmp_path, "pypi:agentenv-absent-pkg==2.0")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "agentenv-absent-pkg-2.0.tar.gz: the cached sdist cannot be unpacked" in done.stderr
    assert "delete it to fetch it again" in done.stderr


SHIPPED = REPO_ROOT / "tasks" / "synth"


def test_the_shipped_set_runs_its_hidden_files_and_keeps_all_their_passing_tests() -> None:
    from agentenv.synth.pipeline import DEFAULT_TEST_CMD
    from agentenv.tasks.catalog import read_manifest, validation_status

    tasks = load_tasks(SHIPPED, hidden_test_patches=False)
    manifest = read_manifest(SHIPPED)
    assert len(tasks) == 36
    for task in tasks:
        # No test folder in the command: the hidden run names the hidden files only.
        assert task.test_cmd == DEFAULT_TEST_CMD, task.instance_id
        assert hidden_test_command(task) == DEFAULT_TEST_CMD + " " + " ".join(task.hidden_tests)
        assert {t.split("::")[0] for t in task.FAIL_TO_PASS + task.PASS_TO_PASS} <= set(task.hidden_tests)
        # Validated as it is now (the record's digest matches the task).
        assert validation_status(task, manifest.validation.get(task.instance_id)).startswith("yes ("), task.instance_id
    for source in manifest.sources:
        assert source["test_cmd"] == DEFAULT_TEST_CMD and source["pass_to_pass"] == "every baseline-passing test of the hidden test files"


def test_a_packages_own_testing_module_is_source_its_tests_are_not(tmp_path: Path) -> None:
    from agentenv.synth.pipeline import source_files

    for relative in (
        "pkg/__init__.py", "pkg/testing/helpers.py", "pkg/tests/test_a.py", "pkg/tests/util.py",
        "tests/test_b.py", "testing/conftest.py", "docs/conf.py", "setup.py", "pkg/core_test.py",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x = 1\n")
    # numpy.testing, django.test: library code other projects test with, where a bug can be.
    assert source_files(tmp_path) == ["pkg/__init__.py", "pkg/testing/helpers.py"]
