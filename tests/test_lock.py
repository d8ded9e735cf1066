"""The lock: what a fresh machine installs is pinned, and it is what pyproject.toml allows."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import REPO_ROOT


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((REPO_ROOT / "requirements.lock").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, pinned = line.partition("==")
        assert separator and pinned, f"requirements.lock:{number}: not NAME==VERSION: {line!r}"
        pins[canonicalize_name(name)] = pinned
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    texts = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]
    texts += project["build-system"]["requires"]
    return [Requirement(text) for text in texts]


def test_every_declared_requirement_is_locked_inside_its_range() -> None:
    locked = _locked()
    problems = []
    for requirement in _declared():
        pinned = locked.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"requirements.lock pins {requirement.name}=={pinned}, outside {requirement}")
    assert not problems, "run scripts/lock.sh: " + "; ".join(problems)


def test_this_environment_is_the_locked_one() -> None:
    # scripts/setup.sh installs the lock; a test run on anything else is not what CI checks.
    drift = []
    for name, pinned in sorted(_locked().items()):
        try:
            installed = version(name)
        except PackageNotFoundError:
            drift.append(f"{name} is not installed")
            continue
        if installed != pinned:
            drift.append(f"{name} {installed} installed, {pinned} locked")
    assert not drift, "run scripts/setup.sh: " + "; ".join(drift)
