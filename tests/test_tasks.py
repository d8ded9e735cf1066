"""Task specs: loading, validation errors that say where, and the single-commit base repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest

from agentenv.tasks.loader import TaskLoadError, load_tasks
from agentenv.tasks.model import Task
from agentenv.tasks.repo import RepoSourceError, content_id, materialize

from .conftest import DEMO_TASKS


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture
def history_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repo with two commits: base (buggy) and a later one holding the fix and a tag."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    _git(repo, "commit", "-qam", "fix: add really adds")
    _git(repo, "tag", "v1.0")
    return repo, base, _git(repo, "rev-parse", "HEAD")


def test_demo_tasks_load_with_resolved_sources() -> None:
    tasks = load_tasks(DEMO_TASKS)
    assert len(tasks) >= 3
    for task in tasks:
        assert Path(task.repo_source).is_dir()
        assert task.FAIL_TO_PASS and task.PASS_TO_PASS and task.patch and task.test_patch


def test_swe_bench_jsonl_loads_as_is(tmp_path: Path) -> None:
    record = {
        "repo": "psf/requests",
        "instance_id": "psf__requests-1234",
        "base_commit": "a" * 40,
        "problem_statement": "it breaks",
        "patch": "",
        "test_patch": "",
        "FAIL_TO_PASS": json.dumps(["tests/test_a.py::test_x"]),
        "PASS_TO_PASS": "[]",
        "version": "2.0",
        "environment_setup_commit": "b" * 40,
        "created_at": "2023-01-01T00:00:00Z",
    }
    path = tmp_path / "instances.jsonl"
    path.write_text(json.dumps(record) + "\n\n")
    (task,) = load_tasks(path)
    assert task.repo_source == "https://github.com/psf/requests.git"
    assert task.FAIL_TO_PASS == ["tests/test_a.py::test_x"] and task.PASS_TO_PASS == []
    # Keys the model does not know are kept, and survive a round trip.
    assert task.model_dump()["environment_setup_commit"] == "b" * 40


def test_agentenv_field_names_in_jsonl_are_honoured(tmp_path: Path) -> None:
    record = {
        "instance_id": "x-1", "repo_source": str(tmp_path), "problem_statement": "p",
        "FAIL_TO_PASS": ["t::a"], "test_cmd": "python -m pytest -rA t", "environment": {"install": ["echo hi"]},
    }
    (tmp_path / "set.jsonl").write_text(json.dumps(record) + "\n")
    (task,) = load_tasks(tmp_path / "set.jsonl")
    assert task.test_cmd == "python -m pytest -rA t" and task.environment.install == ["echo hi"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"instance_id": "a", "problem_statement": "p"}\n', r"set\.jsonl:1: task a: field `repo_source`: Field required"),
        ('{"instance_id": "a b", "repo_source": ".", "problem_statement": "p"}\n', r"set\.jsonl:1: task a b: field `instance_id`"),
        ('{"instance_id": "a", "repo_source": ".", "problem_statement": "p", "FAIL_TO_PASS": "[oops"}\n', r"field `FAIL_TO_PASS`.*JSON list"),
        ('\n{"instance_id": "a", \n', r"set\.jsonl:2: not valid JSON"),
        ('["a list"]\n', r"set\.jsonl:1: a task must be a mapping"),
        ('{"instance_id": "a", "repo_source": "pypi:requests", "problem_statement": "p"}\n', r"field `repo_source`.*pypi:NAME==VERSION"),
        ('{"instance_id": "a", "repo_source": ".", "problem_statement": "p", "hidden_tests": ["/etc/hostname"]}\n', r"field `hidden_tests`.*inside the repository"),
        ('{"instance_id": "a", "repo_source": ".", "problem_statement": "p", "hidden_tests": ["tests/../../x.py"]}\n', r"field `hidden_tests`.*inside the repository"),
    ],
)
def test_bad_records_name_file_line_and_field(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "set.jsonl").write_text(content)
    with pytest.raises(TaskLoadError, match=expected):
        load_tasks(tmp_path / "set.jsonl")


def test_duplicate_instance_ids_are_an_error(tmp_path: Path) -> None:
    spec = "instance_id: same\nrepo_source: .\nproblem_statement: p\n"
    (tmp_path / "a.yaml").write_text(spec)
    (tmp_path / "b.yaml").write_text(spec)
    with pytest.raises(TaskLoadError, match=r"b\.yaml: instance_id 'same' is already used at .*a\.yaml"):
        load_tasks(tmp_path)


def test_bad_yaml_and_empty_folders_are_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("instance_id: [unclosed\n")
    with pytest.raises(TaskLoadError, match=r"broken\.yaml: cannot be parsed"):
        load_tasks(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TaskLoadError, match="holds no tasks"):
        load_tasks(empty)
    with pytest.raises(TaskLoadError, match="no such file or folder"):
        load_tasks(tmp_path / "missing.yaml")


def test_git_source_becomes_a_single_commit_without_history(tmp_path: Path, history_repo) -> None:
    upstream, base, fix = history_repo
    task = Task(instance_id="calc-1", repo_source=str(upstream), base_commit=base, problem_statement="p")
    commit = materialize(task, tmp_path / "snapshot")
    snapshot = git.Repo(tmp_path / "snapshot")
    assert [c.hexsha for c in snapshot.iter_commits("--all")] == [commit]
    assert not snapshot.tags and not snapshot.remotes
    assert (tmp_path / "snapshot" / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    # The future is not reachable: the fix commit's objects are not in the snapshot.
    with pytest.raises(ValueError):
        snapshot.commit(fix)
    # The same tree always gives the same commit id.
    assert materialize(task, tmp_path / "again") == commit
    assert content_id(task) == f"commit-{base}"


def test_git_url_source(tmp_path: Path, history_repo) -> None:
    upstream, base, _ = history_repo
    task = Task(instance_id="calc-2", repo_source=f"file://{upstream}", base_commit=base, problem_statement="p")
    materialize(task, tmp_path / "snapshot")
    assert "a - b" in (tmp_path / "snapshot" / "calc.py").read_text()


def test_git_source_errors(tmp_path: Path, history_repo) -> None:
    upstream, _, _ = history_repo
    no_commit = Task(instance_id="c", repo_source=str(upstream), problem_statement="p")
    with pytest.raises(RepoSourceError, match="base_commit is required"):
        materialize(no_commit, tmp_path / "a")
    wrong = Task(instance_id="c", repo_source=str(upstream), base_commit="f" * 40, problem_statement="p")
    with pytest.raises(RepoSourceError, match="is not in"):
        materialize(wrong, tmp_path / "b")
    missing = Task(instance_id="c", repo_source=str(tmp_path / "nowhere"), problem_statement="p")
    with pytest.raises(RepoSourceError, match="neither a URL nor an existing folder"):
        materialize(missing, tmp_path / "c")


def test_folder_source_content_id_follows_content(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "m.py").write_text("x = 1\n")
    task = Task(instance_id="f", repo_source=str(folder), problem_statement="p")
    first = content_id(task)
    assert content_id(task) == first
    # What a copy leaves out does not count: running the tests in the folder changes nothing.
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\x00")
    (folder / ".pytest_cache").mkdir()
    (folder / ".pytest_cache" / "README.md").write_text("cache\n")
    (folder / "plain.egg-info").mkdir()
    (folder / "plain.egg-info" / "PKG-INFO").write_text("Name: plain\n")
    assert content_id(task) == first
    (folder / "m.py").write_text("x = 2\n")
    assert content_id(task) != first


def test_a_hidden_test_cannot_be_a_link_out_of_the_source(tmp_path: Path) -> None:
    # Its content would go into the test patch: a file of the machine loading the task.
    source = tmp_path / "repo"
    (source / "tests").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the grade\n")
    (source / "tests" / "test_x.py").symlink_to(secret)
    (tmp_path / "t.yaml").write_text("instance_id: t\nrepo_source: repo\nproblem_statement: p\nhidden_tests: [tests/test_x.py]\n")
    with pytest.raises(TaskLoadError, match=r"hidden_tests.*tests/test_x\.py leads outside"):
        load_tasks(tmp_path / "t.yaml")
