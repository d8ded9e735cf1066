"""SWE-bench instances: what the `swebench` package specifies for their repository and version.

A SWE-bench instance names its repository (`repo`, "owner/name") and the repository's version
(`version`, "4.2"). For those, SWE-bench's harness does not use one test command for all: its
per-repository specs (`MAP_REPO_VERSION_TO_SPECS`) give the packages, the install command, the
test command and the log parser, and its test directives (`get_test_directives`) name the test
files of the test patch -- as Django's dotted modules for Django. agentenv takes each piece from
the same package, so a SWE-bench instance runs the tests SWE-bench runs, read the way SWE-bench
reads them. A task that gives its own `environment`, `test_cmd`, `log_parser` or
`test_directives` keeps it.

swebench 5 no longer ships the specs, so agentenv builds on swebench 4.1.0 (the optional extra
`agentenv[swebench]`). What SWE-bench does that agentenv's image cannot (another Python, conda,
a non-root test user, the install re-run before the tests) is recorded in the task's
`spec_origin.deviations` and logged when the task is loaded: never silently.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

from agentenv.tasks.model import DEFAULT_BASE_IMAGE, Environment, SpecOrigin, Task

log = logging.getLogger(__name__)

SWEBENCH_RELEASE = "4.1.0"
INSTALL_HINT = f"pip install 'agentenv[swebench]' (swebench=={SWEBENCH_RELEASE})"
# The Python of agentenv's own base image (Debian bookworm's).
BASE_IMAGE_PYTHON = "3.11"
# The task fields a spec fills in when the task does not give them.
SPEC_FIELDS = ("environment", "test_cmd", "log_parser", "test_directives")
# swebench's parser functions that read pytest's -rA summary as agentenv's own parser does
# (tests/test_swebench_parity.py): agentenv's keeps the grader's record of the run.
PYTEST_PARSERS = {"parse_log_pytest", "parse_log_pytest_v2", "parse_log_seaborn"}
# ... and those that also rewrite ids, for which agentenv has a parser of the same name.
OWN_PARSERS = {"parse_log_pytest_options": "pytest_options"}
SWEBENCH_PARSER_PREFIX = "swebench:"


class SwebenchSpecError(ValueError):
    """A SWE-bench instance's spec cannot be had or used; the message says why and what to do."""


@dataclass(frozen=True)
class Harness:
    """The pieces of swebench's harness that agentenv uses."""

    version: str
    specs: dict[str, dict[str, dict[str, Any]]]  # Python repositories only
    all_repos: frozenset[str]
    requirements_paths: dict[str, list[str]]
    parsers: dict[str, Any]
    get_test_directives: Any


@cache
def harness() -> Harness:
    """swebench's specs, directives and parsers; SwebenchSpecError when they are not there."""
    try:
        import swebench
    except ImportError:
        raise SwebenchSpecError(f"the swebench package is not installed: {INSTALL_HINT}") from None
    try:
        from swebench.harness.constants import MAP_REPO_TO_REQS_PATHS, MAP_REPO_VERSION_TO_SPECS
        from swebench.harness.constants.python import MAP_REPO_VERSION_TO_SPECS_PY
        from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
        from swebench.harness.test_spec.python import get_test_directives
    except ImportError:
        installed = getattr(swebench, "__version__", "?")
        raise SwebenchSpecError(
            f"swebench {installed} has no per-repository specs (swebench 5 dropped them): {INSTALL_HINT}"
        ) from None
    return Harness(
        version=getattr(swebench, "__version__", "?"),
        specs=MAP_REPO_VERSION_TO_SPECS_PY,
        all_repos=frozenset(MAP_REPO_VERSION_TO_SPECS),
        requirements_paths=MAP_REPO_TO_REQS_PATHS,
        parsers=MAP_REPO_TO_PARSER,
        get_test_directives=get_test_directives,
    )


def is_swebench_instance(raw: dict[str, Any]) -> bool:
    """A record in SWE-bench's format: it names its repository and that repository's version."""
    return isinstance(raw.get("repo"), str) and "version" in raw


def needs_spec(raw: dict[str, Any]) -> bool:
    return any(name not in raw for name in SPEC_FIELDS)


def apply_swebench_spec(task: Task, raw: dict[str, Any]) -> None:
    """Fill in what the record leaves out from swebench's spec of its repository and version."""
    repo, version = raw["repo"], raw["version"]
    if not isinstance(version, str):
        # YAML reads `version: 3.10` as the number 3.1: a different version, silently.
        raise SwebenchSpecError(
            f"field `version`: must be a string as in SWE-bench (\"{version}\" in quotes), got {type(version).__name__} {version!r}"
        )
    if not needs_spec(raw):
        return
    tools = harness()
    if repo not in tools.specs:
        if repo in tools.all_repos:
            raise SwebenchSpecError(
                f"swebench's spec for {repo} is for a non-Python image, which agentenv does not build: "
                f"give the task's {', '.join(SPEC_FIELDS)}"
            )
        return  # a SWE-bench-style record of a repository SWE-bench does not know: agentenv's defaults
    versions = tools.specs[repo]
    if version not in versions:
        known = ", ".join(sorted(versions, key=_version_key))
        raise SwebenchSpecError(f"swebench {tools.version} has no spec for {repo} version {version!r} (it knows {known})")
    spec = versions[version]
    deviations = _deviations(spec, task.environment.base_image, environment_from_spec="environment" not in raw)
    if "environment" not in raw:
        task.environment = Environment(install=install_commands(repo, spec, tools))
    if "test_cmd" not in raw:
        if not spec.get("test_cmd"):
            raise SwebenchSpecError(f"swebench's spec for {repo} {version} names no test command: give the task's test_cmd")
        task.test_cmd = test_command(spec)
    if "log_parser" not in raw:
        task.log_parser = log_parser_name(repo, tools)
    if "test_directives" not in raw:
        task.test_directives = list(tools.get_test_directives({"repo": repo, "test_patch": task.test_patch}))
    task.spec_origin = SpecOrigin(
        source=f"swebench=={tools.version}", repo=repo, version=version, python=spec.get("python"), deviations=deviations
    )
    _warn_once(repo, version, tuple(deviations))


def install_commands(repo: str, spec: dict[str, Any], tools: Harness) -> list[str]:
    """SWE-bench's environment and repository set-up, in its order, on agentenv's image (the
    venv of the base image stands for SWE-bench's conda environment)."""
    commands: list[str] = []
    packages = spec.get("packages")
    if packages == "requirements.txt":
        commands.append(requirements_command(tools.requirements_paths.get(repo, [])))
    elif packages == "environment.yml":
        message = f"agentenv: {repo}'s SWE-bench environment is a conda environment.yml, which agentenv's image cannot create"
        commands.append(f"echo {shlex.quote(message)} >&2; exit 1")
    elif packages:
        commands.append(f"python -m pip install {packages}")  # conda package names, given to pip
    if spec.get("pip_packages"):
        commands.append("python -m pip install " + " ".join(shlex.quote(p) for p in spec["pip_packages"]))
    commands += list(spec.get("pre_install", []))
    if spec.get("install"):
        commands.append(spec["install"])
    return commands


# SWE-bench reads the requirements file at the environment's commit from GitHub, follows `-r`
# includes and leaves out the project itself ("-e .", ".[test"); this does the same with the
# repository's own file, in the build container.
_REQUIREMENTS_SCRIPT = """
import os, sys
skip = ("-e .", "#", ".[test")
for path in sys.argv[2:]:
    if os.path.isfile(path):
        break
else:
    sys.exit("agentenv: none of " + ", ".join(sys.argv[2:]) + " is in the repository")
lines, included = [], []
for line in open(path).read().split("\\n"):
    if line.strip().startswith("-r"):
        inner = os.path.join(os.path.dirname(path), line.strip()[2:].strip())
        if os.path.isfile(inner):
            included += [x for x in open(inner).read().split("\\n") if not x.strip().startswith(skip)]
    elif not line.strip().startswith(skip):
        lines.append(line)
open(sys.argv[1], "w").write("\\n".join(included + lines) + "\\n")
"""


REQUIREMENTS_TARGET = "/tmp/agentenv-requirements.txt"


def requirements_script(target: str, paths: list[str]) -> str:
    """A command that writes to `target` the requirements SWE-bench would install (see above)."""
    names = " ".join(shlex.quote(p) for p in paths)
    return f"python -c {shlex.quote(_REQUIREMENTS_SCRIPT.strip())} {shlex.quote(target)} {names}"


def requirements_command(paths: list[str]) -> str:
    target = REQUIREMENTS_TARGET
    return f"{requirements_script(target, paths)} && python -m pip install -r {target} && rm -f {target}"


def test_command(spec: dict[str, Any]) -> str:
    """The spec's test command, after its `eval_commands` (exports, locale set-up), which
    SWE-bench's eval script runs first without stopping at a failure."""
    command = spec["test_cmd"]
    if isinstance(command, list):
        command = " && ".join(command)
    return "; ".join([*spec.get("eval_commands", []), command])


def log_parser_name(repo: str, tools: Harness) -> str:
    parser = tools.parsers.get(repo)
    name = getattr(parser, "__name__", "")
    if name in PYTEST_PARSERS:
        return "pytest"
    if name in OWN_PARSERS:
        return OWN_PARSERS[name]
    return SWEBENCH_PARSER_PREFIX + repo  # swebench's own parser, through the adapter


def _deviations(spec: dict[str, Any], base_image: str, *, environment_from_spec: bool) -> list[str]:
    found = []
    python = spec.get("python")
    if python and base_image == DEFAULT_BASE_IMAGE and python != BASE_IMAGE_PYTHON:
        found.append(f"SWE-bench runs it on Python {python}; agentenv's base image has Python {BASE_IMAGE_PYTHON}")
    elif python and base_image != DEFAULT_BASE_IMAGE:
        found.append(f"SWE-bench runs it on Python {python}; the Python of {base_image} is not checked")
    if not environment_from_spec:
        return found  # the task's own environment: its install is the task's business
    packages = spec.get("packages")
    if packages == "environment.yml":
        found.append("its environment is a conda environment.yml: the image build stops")
    elif packages == "requirements.txt":
        found.append("requirements come from the base tree; SWE-bench reads them at environment_setup_commit")
    elif packages:
        found.append(f"conda packages ({packages}) are installed with pip")
    if spec.get("pre_install"):
        found.append("pre-install steps run in the image build; tracked files they edit are not committed as in SWE-bench")
    if spec.get("install"):
        found.append("the install is not run again before the tests (the grading container has no network)")
    if spec.get("execute_test_as_nonroot"):
        found.append("tests run as root; SWE-bench runs them as a non-root user")
    return found


_warned: set[tuple[str, str, tuple[str, ...]]] = set()


def _warn_once(repo: str, version: str, deviations: tuple[str, ...]) -> None:
    if deviations and (repo, version, deviations) not in _warned:
        _warned.add((repo, version, deviations))
        log.warning("SWE-bench instances of %s %s differ from SWE-bench's run: %s", repo, version, "; ".join(deviations))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
