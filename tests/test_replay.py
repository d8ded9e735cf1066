"""Replay matches a demo run step by step; branching shares the prefix and names its parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentenv.rollout.config import load_config
from agentenv.rollout.replay import branch, replay
from agentenv.rollout.runner import run
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", *args], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=600, env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, docker_provisioned) -> Path:
    output = tmp_path_factory.mktemp("replay")
    config = load_config(REPO_ROOT / "configs" / "demo.yaml", runtime="docker", output=str(output), run_id="rep")
    return Path(run(config).run_dir)


def test_replay_of_the_demo_run_matches_at_every_step(demo_run: Path) -> None:
    for path in sorted(demo_run.glob("*.jsonl")):
        if path.name == "predictions.jsonl":
            continue
        report = replay(path)
        assert report.matches, report.diff(report.first_divergence)
        assert len(report.steps) == len(read_trajectory(path).steps) >= 5


def test_replay_on_the_other_runtime_matches_too(demo_run: Path, local_provisioned) -> None:
    report = replay(demo_run / "spanlib-merge-nested-interval.jsonl", runtime="local")
    assert report.matches and report.runtime == "local"


def test_a_divergence_fails_with_the_diff_of_the_first_divergent_step(demo_run: Path, tmp_path: Path) -> None:
    source = demo_run / "kvconf-quoted-inline-comment.jsonl"
    lines = source.read_text().splitlines()
    step = json.loads(lines[2])  # the header is line 0: this is step 1
    step["observation"] = step["observation"].replace("\n", "\nA LINE THAT NEVER WAS\n", 1)
    lines[2] = json.dumps(step)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    done = _cli("replay", str(tampered))
    assert done.returncode == 1
    assert "first divergence at step 1" in done.stderr
    assert "-A LINE THAT NEVER WAS" in done.stderr


def test_branch_shares_the_prefix_and_records_its_parent(demo_run: Path, tmp_path: Path) -> None:
    parent_path = demo_run / "semverlib-prerelease-numeric-order.jsonl"
    parent = read_trajectory(parent_path)
    at = 2
    out, result = branch(parent_path, at, action="bash echo a different idea", out=tmp_path / "b.jsonl")
    child = read_trajectory(out)
    assert [s.action for s in child.steps[:at]] == [s.action for s in parent.steps[:at]]
    assert [s.observation for s in child.steps[:at]] == [s.observation for s in parent.steps[:at]]
    assert child.steps[at].action == "bash echo a different idea" and child.steps[at].observation.startswith("a different idea")
    assert len(child.steps) == at + 1
    assert child.header.parent is not None
    assert (child.header.parent.trajectory_id, child.header.parent.step) == (parent.header.trajectory_id, at)
    assert Path(child.header.parent.path) == parent_path.resolve()
    assert child.header.trajectory_id.startswith(parent.header.trajectory_id + "@2-")
    assert child.footer is not None and child.footer.exit_status == "branch_stopped" and not child.footer.resolved


def test_branch_with_an_agent_goes_on_to_the_end(demo_run: Path, tmp_path: Path) -> None:
    # The oracle, handed the episode after a harmless rewritten first step, finishes the fix.
    done = _cli(
        "branch", str(demo_run / "memokit-ttl-read-extends-expiry.jsonl"), "--at", "0",
        "--action", "bash ls", "--agent", "configs/demo.yaml", "--out", str(tmp_path / "agent.jsonl"),
    )
    assert done.returncode == 0, done.stderr
    child = read_trajectory(tmp_path / "agent.jsonl")
    assert child.steps[0].action == "bash ls" and child.steps[-1].action == "submit"
    assert child.footer.resolved


def test_branch_arguments_are_checked(demo_run: Path) -> None:
    path = demo_run / "memokit-ttl-read-extends-expiry.jsonl"
    with pytest.raises(ValueError, match="--at must be between 0 and"):
        branch(path, 99, action="submit")
    with pytest.raises(ValueError, match="give the rewritten action, an agent"):
        branch(path, 1)


def test_traj_ls_and_show(demo_run: Path) -> None:
    listing = _cli("traj", "ls", str(demo_run))
    assert listing.returncode == 0
    for name in ("kvconf-quoted-inline-comment", "spanlib-merge-nested-interval"):
        assert name in listing.stdout
    shown = _cli("traj", "show", str(demo_run / "kvconf-quoted-inline-comment.jsonl"), "--step", "1")
    assert shown.returncode == 0 and "step 1" in shown.stdout and "$ open" in shown.stdout
    bad = _cli("traj", "show", str(demo_run / "kvconf-quoted-inline-comment.jsonl"), "--step", "99")
    assert bad.returncode == 2 and "--step must be between" in bad.stderr
