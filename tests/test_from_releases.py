"""`agentenv tasks from-releases`: a task from two consecutive releases on the index, end to end
on Docker, and the pairs it refuses, each with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentenv.synth.releases import ReleasePair, ReleasePairError, task_from_releases

from .conftest import REPO_ROOT

RELEASES = REPO_ROOT / "tasks" / "releases"
# A one-module package whose new tests run in a second; its pair is in the shipped set.
SHIPPED = "xmltodict-1.0.2-to-1.0.3"
OLD, NEW = "pypi:xmltodict==1.0.2", "pypi:xmltodict==1.0.3"


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
    (shipped,) = [
        s
        for s in yaml.safe_load((RELEASES / "manifest.yaml").read_text())["sources"]
        if s.get("task") == SHIPPED
    ]
    assert recorded == shipped
    validation = yaml.safe_load((tmp_path / "manifest.yaml").read_text())["validation"]
    assert validation[SHIPPED]["valid"] is True and validation[SHIPPED]["runs"] == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pypi:xmltodict==1.0.2", "pypi:jsonpointer==3.11", "pypi:xmltodict==1.0.2 and pypi:jsonpointer==3.11 are releases of different packages"),
        ("pypi:xmltodict==1.0.2", "pypi:xmltodict==1.0.2", "pypi:xmltodict==1.0.2 and pypi:xmltodict==1.0.2 are the same release"),
        ("pypi:xmltodict==1.0.3", "pypi:xmltodict==1.0.2", "xmltodict==1.0.2 is not a later release than 1.0.3"),
        # Releases far apart hold many changes, not one fix: named, and refused.
        ("pypi:xmltodict==1.0.1", "pypi:xmltodict==1.0.3", "xmltodict has releases between 1.0.1 and 1.0.3 (1.0.2): pass the next one, or allow the gap"),
    ],
)  # fmt: skip
def test_what_is_not_a_pair_of_consecutive_releases_is_named(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ReleasePairError) as raised:
        task_from_releases(ReleasePair(old=old, new=new), tmp_path / "out")
    assert str(raised.value) == message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pypi:xmltodict==1.0.2", "pypi:jsonpointer==3.11", "are releases of different packages"),
        (
            "pypi:xmltodict",
            "pypi:xmltodict==1.0.3",
            "'pypi:xmltodict' is not of the form pypi:NAME==VERSION",
        ),
    ],
)
def test_the_command_names_a_bad_pair_without_a_traceback(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    done = _from_releases(old, new, "--out", str(tmp_path / "out"), timeout=300)
    assert done.returncode == 1, done.stderr
    assert message in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_a_pair_that_shows_no_fix_is_recorded_with_the_reason(tmp_path: Path) -> None:
    # An earlier attempt had vouched for a task of this pair: no longer.
    (tmp_path / "manifest.yaml").write_text(
        "name: releases\nvalidation:\n  tomli-2.4.0-to-2.4.1: {valid: true, checked_at: '2026-01-01'}\n"
    )
    # tomli 2.4.1 changed its parser but shipped no test change: nothing could show the fix.
    done = _from_releases(
        "pypi:tomli==2.4.0", "pypi:tomli==2.4.1", "--out", str(tmp_path), timeout=300
    )
    assert done.returncode == 1, done.stderr
    reason = "the newer release changes no test file: nothing shows the fix"
    assert reason in " ".join(done.stderr.split())
    manifest = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    assert manifest["validation"] == {}
    (record,) = manifest["sources"]
    assert record["task"] is None and record["rejected"] == reason
    assert record["patch_files"] == ["src/tomli/_parser.py"] and record["test_files"] == []
    assert list(tmp_path.glob("*.yaml")) == [tmp_path / "manifest.yaml"]
