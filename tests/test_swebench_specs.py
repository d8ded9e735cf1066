"""SWE-bench instances load with what the swebench package specifies for their repository and
version: install steps, test command, log parser and test directives (Django's dotted modules
included); a task that says otherwise keeps its own; what cannot be had is said, never guessed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentenv.tasks.directives import hidden_test_command
from agentenv.tasks.loader import TaskLoadError, load_tasks
from agentenv.tasks.swebench import REQUIREMENTS_TARGET, requirements_script

from .conftest import REPO_ROOT

INSTANCES = REPO_ROOT / "tests" / "fixtures" / "swebench" / "instances.jsonl"


@pytest.fixture(scope="module")
def instances() -> dict[str, dict]:
    return {raw["instance_id"]: raw for raw in map(json.loads, INSTANCES.read_text().splitlines())}


def _load(tmp_path: Path, *records: dict) -> list:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return load_tasks(path)


def test_a_flask_instance_gets_swebenchs_install_test_command_parser_and_directives(instances, tmp_path) -> None:
    (task,) = _load(tmp_path, instances["pallets__flask-5014"])
    # swebench 4.1.0, pallets/flask 2.3: requirements/dev.txt, six pinned packages, the install.
    install = task.environment.install
    assert install[0].startswith("python -c ") and install[0].endswith(
        f"{REQUIREMENTS_TARGET} requirements/dev.txt && python -m pip install -r {REQUIREMENTS_TARGET} && rm -f {REQUIREMENTS_TARGET}"
    )
    assert install[1] == (
        "python -m pip install setuptools==70.0.0 click==8.1.3 itsdangerous==2.1.2 Jinja2==3.1.2 "
        "MarkupSafe==2.1.1 Werkzeug==2.3.7"
    )
    assert install[2:] == ["python -m pip install -e ."]
    assert task.test_cmd == "pytest -rA" and task.log_parser == "pytest"
    assert hidden_test_command(task) == "pytest -rA tests/test_blueprints.py"
    assert task.spec_origin.source == "swebench==4.1.0"
    assert (task.spec_origin.repo, task.spec_origin.version, task.spec_origin.python) == ("pallets/flask", "2.3", "3.11")
    # Python 3.11 is the base image's: no deviation about it; the rest are said.
    assert not any("Python" in d for d in task.spec_origin.deviations)
    assert any("environment_setup_commit" in d for d in task.spec_origin.deviations)


def test_a_django_instance_names_its_test_modules_the_django_way(instances, tmp_path) -> None:
    raw = instances["django__django-15781"]
    (task,) = _load(tmp_path, raw)
    assert task.test_directives == ["user_commands.tests"]
    assert hidden_test_command(task) == "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 user_commands.tests"
    assert task.log_parser == "swebench:django/django"
    # The record's own environment is kept; the Python SWE-bench uses is said.
    assert task.environment.install == ["python -m pip install -e ."]
    assert task.spec_origin.deviations == ["SWE-bench runs it on Python 3.9; agentenv's base image has Python 3.11"]
    # Without its own environment, the spec's: Django's requirements file.
    (spec_env,) = _load(tmp_path, {k: v for k, v in raw.items() if k != "environment"})
    assert "tests/requirements/py3.txt" in spec_env.environment.install[0]


def test_what_a_task_gives_itself_is_kept(instances, tmp_path) -> None:
    own = {**instances["pallets__flask-5014"], "test_cmd": "python -m pytest -q", "log_parser": "unittest", "test_directives": []}
    (task,) = _load(tmp_path, own)
    assert (task.test_cmd, task.log_parser, task.test_directives) == ("python -m pytest -q", "unittest", [])
    assert task.environment.install[-1] == "python -m pip install -e ."  # the one field it left out


def test_a_record_of_a_repository_swebench_does_not_know_gets_agentenvs_defaults(instances, tmp_path) -> None:
    other = {**instances["pallets__flask-5014"], "repo": "someone/elsewhere", "instance_id": "someone__elsewhere-1"}
    (task,) = _load(tmp_path, other)
    assert task.test_cmd == "python -m pytest -rA -p no:cacheprovider" and task.spec_origin is None
    assert task.test_directives is None and task.environment.install == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"version": 2.3}, r"field `version`: must be a string as in SWE-bench \(\"2.3\" in quotes\), got float 2.3"),
        ({"version": "9.9"}, r"swebench 4.1.0 has no spec for pallets/flask version '9.9' \(it knows 2.0, 2.1, 2.2, 2.3, 3.0, 3.1\)"),
    ],
)
def test_a_version_swebench_has_no_spec_for_is_named(instances, tmp_path, change, expected) -> None:
    with pytest.raises(TaskLoadError, match=r"set\.jsonl:1: task pallets__flask-5014: " + expected):
        _load(tmp_path, {**instances["pallets__flask-5014"], **change})


def test_a_conda_environment_stops_the_build_with_a_message(instances, tmp_path) -> None:
    xarray = {**instances["pallets__flask-5014"], "repo": "pydata/xarray", "version": "2022.06", "instance_id": "pydata__xarray-1"}
    (task,) = _load(tmp_path, xarray)
    stopped = subprocess.run(task.environment.install[0], shell=True, capture_output=True, text=True)
    assert stopped.returncode == 1
    assert stopped.stderr == "agentenv: pydata/xarray's SWE-bench environment is a conda environment.yml, which agentenv's image cannot create\n"
    assert "its environment is a conda environment.yml: the image build stops" in task.spec_origin.deviations


def _load_in_a_fresh_process(code_before: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = code_before + (
        "from agentenv.tasks.loader import TaskLoadError, load_tasks\n"
        "try:\n"
        f"    load_tasks({str(INSTANCES)!r})\n"
        "except TaskLoadError as exc:\n"
        "    raise SystemExit(str(exc))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)


def test_without_the_swebench_package_loading_says_what_to_install() -> None:
    done = _load_in_a_fresh_process("import sys\nsys.modules['swebench'] = None  # as if not installed\n")
    assert done.returncode == 1
    assert "instances.jsonl:1: task pallets__flask-5014: the swebench package is not installed: " in done.stderr
    assert "pip install 'agentenv[swebench]' (swebench==4.1.0)" in done.stderr


def test_swebench_5_which_has_no_specs_is_named(tmp_path) -> None:
    target = tmp_path / "swebench5"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), "swebench==5.0.2"],
        capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    done = _load_in_a_fresh_process(f"import sys\nsys.path.insert(0, {str(target)!r})\n")
    assert done.returncode == 1, done.stderr
    assert "swebench 5.0.2 has no per-repository specs (swebench 5 dropped them)" in done.stderr


def test_requirements_are_read_as_swebench_reads_them(tmp_path) -> None:
    # SWE-bench follows -r includes and leaves out the project itself and comments.
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "tests.txt").write_text("pytest==7.2.0\n# via x\n-e .\n")
    (tmp_path / "requirements" / "dev.txt").write_text("-r tests.txt\n# a comment\ntox==4.0.0\n.[test]\n")
    target = tmp_path / "out.txt"
    done = subprocess.run(
        requirements_script(str(target), ["requirements_missing.txt", "requirements/dev.txt"]),
        shell=True, cwd=tmp_path, capture_output=True, text=True, env={"PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in target.read_text().split("\n") if line] == ["pytest==7.2.0", "tox==4.0.0"]
    missing = subprocess.run(
        requirements_script(str(target), ["nowhere.txt"]), shell=True, cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": str(Path(sys.executable).parent)},
    )
    assert missing.returncode == 1 and "agentenv: none of nowhere.txt is in the repository" in missing.stderr
