"""`agentenv tasks from-releases`: a task from two consecutive releases on the index, end to end
on Docker, and the pairs it refuses, each with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO_ROOT

RELEASES = REPO_ROOT / "tasks" / "releases"
# A small package with a fast suite; its pair is in the shipped set.
SHIPPED = "jsonpointer-3.10-to-3.11"
OLD, NEW = "pypi:jsonpointer==3.10", "pypi:jsonpointer==3.11"


def _from_releases(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "tasks", "from-releases", *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_a_pair_of_releases_gives_the_shipped_task_again(base_image: str, tmp_path: Path) -> None:
    done = _from_releases(OLD, NEW, "--out", str(tmp_path), "--runs", "1")
    assert done.returncode == 0, done.stderr
    # The same releases give the same task, byte for byte: the diff split, the test lists
    # from the runs, the statement from the release notes.
    assert (tmp_path / f"{SHIPPED}.yaml").read_text() == (RELEASES / f"{SHIPPED}.yaml").read_text()
    (recorded,) = yaml.safe_load((tmp_path / "manifest.yaml").read_text())["sources"]
    (shipped,) = [s for s in yaml.safe_load((RELEASES / "manifest.yaml").read_text())["sources"] if s.get("task") == SHIPPED]
    assert recorded == shipped
    validation = yaml.safe_load((tmp_path / "manifest.yaml").read_text())["validation"]
    assert validation[SHIPPED]["valid"] is True and validation[SHIPPED]["runs"] == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pypi:jsonpointer==3.10", "pypi:jsonpatch==1.33", "pypi:jsonpointer==3.10 and pypi:jsonpatch==1.33 are releases of different packages"),
        ("pypi:jsonpointer==3.10", "pypi:jsonpointer==3.10", "are the same release"),
        ("pypi:jsonpointer==3.11", "pypi:jsonpointer==3.10", "jsonpointer==3.10 is not a later release than 3.11"),
        ("pypi:jsonpointer", "pypi:jsonpointer==3.11", "'pypi:jsonpointer' is not of the form pypi:NAME==VERSION"),
        # Releases far apart hold many changes, not one fix: named, and refused.
        ("pypi:jsonpointer==3.9", "pypi:jsonpointer==3.11", "jsonpointer has releases between 3.9 and 3.11 (3.10)"),
    ],
)  # fmt: skip
def test_what_is_not_a_pair_of_consecutive_releases_is_named(old: str, new: str, message: str, tmp_path: Path) -> None:
    done = _from_releases(old, new, "--out", str(tmp_path / "out"), timeout=300)
    assert done.returncode == 1, done.stderr
    assert message in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
