"""`agentenv run configs/demo.yaml`: every demo task resolved by the oracle, on both runtimes,
with SWE-bench-shaped outputs, and a second run that resumes instead of redoing work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT

AGENTENV = [sys.executable, "-m", "agentenv.cli.main"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*AGENTENV, *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=900)


@pytest.mark.parametrize("runtime", ["docker", "local"])
def test_demo_run_resolves_every_task(runtime: str, tmp_path: Path, request, demo_tasks) -> None:
    request.getfixturevalue(f"{runtime}_provisioned")
    done = _run("run", "configs/demo.yaml", "--runtime", runtime, "--output", str(tmp_path), "--run-id", "demo")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "demo"
    ids = sorted(t.instance_id for t in demo_tasks)

    report = json.loads((run_dir / "report.json").read_text())
    assert report["total_instances"] == report["resolved_instances"] == len(ids)
    assert report["resolved_ids"] == ids and report["unresolved_ids"] == [] and report["error_ids"] == []

    predictions = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["instance_id"] for p in predictions) == ids
    for prediction in predictions:
        assert set(prediction) == {"instance_id", "model_name_or_path", "model_patch"}
        assert prediction["model_patch"].startswith("diff --git")

    for instance_id in ids:
        trajectory = read_trajectory(run_dir / f"{instance_id}.jsonl")
        assert trajectory.header.runtime == runtime and trajectory.header.agent.name == "oracle"
        assert trajectory.footer is not None and trajectory.footer.resolved
        assert trajectory.footer.exit_status == "submitted"
        commands = [s.info["command"]["name"] for s in trajectory.steps]
        assert commands[:2] == ["find_file", "open"] and "edit" in commands
        assert commands[-2:] == ["run_tests", "submit"]
        assert trajectory.steps[-1].reward == 1.0 and trajectory.steps[-1].terminated
        assert all(s.info["error"] is None for s in trajectory.steps), "the oracle made no mistakes"

    assert "resolved 4/4" in done.stderr.replace("\n", " ") or f"resolved {len(ids)}/{len(ids)}" in done.stderr


def test_a_second_run_resumes_only_unfinished_episodes(tmp_path: Path, local_provisioned, demo_tasks) -> None:
    args = ("run", "configs/demo.yaml", "--runtime", "local", "--output", str(tmp_path), "--run-id", "again")
    assert _run(*args).returncode == 0
    run_dir = tmp_path / "again"
    # Simulate a run killed in the middle of one episode: its footer never got written.
    victim = run_dir / f"{demo_tasks[0].instance_id}.jsonl"
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(lines[:-1]) + "\n")
    untouched = run_dir / f"{demo_tasks[1].instance_id}.jsonl"
    before = untouched.read_text()

    second = _run(*args)
    assert second.returncode == 0, second.stderr
    assert f"{len(demo_tasks) - 1} episodes already finished, 1 to run" in second.stderr
    assert read_trajectory(victim).footer is not None
    assert untouched.read_text() == before
    assert json.loads((run_dir / "report.json").read_text())["resolved_instances"] == len(demo_tasks)


def test_bad_config_is_reported_with_its_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("tasks: ../tasks/demo\nmax_steps: 0\nagent: {type: oracle}\n")
    done = _run("run", str(config))
    assert done.returncode == 2
    assert "bad.yaml" in done.stderr and "max_steps" in done.stderr
