"""Runs that survive: resume after SIGKILL, an episode whose container dies, samples, Ray."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import docker

from agentenv.rollout.config import load_config
from agentenv.rollout.runner import run
from agentenv.runtime.gc import leftovers, remove
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT
from .llm_stub import Reply, StubLLMServer

AGENTENV = [sys.executable, "-m", "agentenv.cli.main"]


def _finished(run_dir: Path) -> dict[str, str]:
    """instance id -> hash of its file, for the trajectories that have a footer."""
    done = {}
    for path in run_dir.glob("*.jsonl"):
        if path.name == "predictions.jsonl":
            continue
        lines = path.read_text().splitlines()
        if lines and '"record":"footer"' in lines[-1].replace(" ", ""):
            done[path.stem] = hashlib.sha256(path.read_bytes()).hexdigest()
    return done


def test_resume_after_sigkill_loses_nothing_and_runs_nothing_twice(docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    args = [*AGENTENV, "run", "configs/demo.yaml", "--runtime", "docker", "--output", str(tmp_path), "--run-id", "killed"]
    run_dir = tmp_path / "killed"
    process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(_finished(run_dir)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = _finished(run_dir)
    assert 2 <= len(before) < len(demo_tasks), "the run must be killed in the middle"

    # The killed run's in-flight container is left behind; gc finds it by its dead creator.
    stale = [c for c in leftovers() if c.labels.get("agentenv.host_pid") == str(process.pid)]
    remove(stale)
    assert not [c for c in leftovers() if c.labels.get("agentenv.host_pid") == str(process.pid)]

    resumed = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} episodes already finished, {len(demo_tasks) - len(before)} to run" in resumed.stderr
    after = _finished(run_dir)
    assert set(after) == {t.instance_id for t in demo_tasks}
    assert {k: after[k] for k in before} == before, "finished episodes were not run again"
    for path in run_dir.glob("*.jsonl"):
        if path.name != "predictions.jsonl":
            assert read_trajectory(path).footer is not None
    assert json.loads((run_dir / "report.json").read_text())["resolved_instances"] == len(demo_tasks)


def test_an_episode_whose_container_dies_is_retried_while_the_others_finish(docker_provisioned, demo_tasks, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTENV_TEST_KEY", "sk-test")
    victim = "memokit-ttl-read-extends-expiry"
    patches = {t.instance_id: t.patch for t in demo_tasks}
    killed: list[str] = []

    def policy(request: dict) -> Reply:
        instance = request["messages"][1]["content"]
        task_id = next(t.instance_id for t in demo_tasks if t.problem_statement.strip()[:80] in instance)
        steps = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if task_id == victim and steps == 1 and not killed:
            # Pull the rug: the victim's container disappears between two of its steps.
            for container in docker.from_env().containers.list(filters={"label": f"agentenv.instance_id={victim}"}):
                if container.labels.get("agentenv.run_id") == "crash":
                    container.remove(force=True)
                    killed.append(container.id)
        if steps == 0:
            return Reply(tool_calls=[{"name": "bash", "arguments": {"command": "ls"}}])
        if steps == 1:
            return Reply(tool_calls=[{"name": "bash", "arguments": {"command": f"git apply <<'EOF'\n{patches[task_id]}EOF"}}])
        return Reply(tool_calls=[{"name": "submit", "arguments": {}}])

    with StubLLMServer(policy) as server:
        config = {
            "tasks": str(REPO_ROOT / "tasks" / "demo"), "runtime": "docker", "workers": 2, "max_steps": 8,
            "output": str(tmp_path), "run_id": "crash", "episode_retries": 1,
            "agent": {"type": "llm", "model": "openai/stub-model", "api_base": server.base_url, "api_key_env": "AGENTENV_TEST_KEY",
                      "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
        }
        (tmp_path / "crash.yaml").write_text(json.dumps(config))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = run(load_config(tmp_path / "crash.yaml"))
    assert killed, "the victim's container was removed mid-episode"
    by_id = {e.instance_id: e for e in summary.episodes}
    assert by_id[victim].attempts == 2 and by_id[victim].resolved
    assert all(e.resolved and e.attempts == 1 for i, e in by_id.items() if i != victim)
    assert (tmp_path / "crash" / "logs" / f"{victim}.error.log").read_text().count("--- attempt 1") == 1


def test_samples_give_pass_at_k(local_provisioned, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = load_config(REPO_ROOT / "configs" / "demo.yaml", runtime="local", output=str(tmp_path), run_id="k", samples=2,
                             instance_ids=["kvconf-quoted-inline-comment"])
        summary = run(config)
    assert [(e.instance_id, e.sample) for e in summary.episodes] == [("kvconf-quoted-inline-comment", 0), ("kvconf-quoted-inline-comment", 1)]
    assert summary.report["pass_at_k"] == {"1": 1.0, "2": 1.0}
    second = read_trajectory(tmp_path / "k" / "kvconf-quoted-inline-comment.sample1.jsonl")
    assert second.header.trajectory_id == "k/kvconf-quoted-inline-comment#1" and second.header.sample == 1
    assert len((tmp_path / "k" / "samples.jsonl").read_text().splitlines()) == 2


def test_ray_backend_on_a_local_cluster_matches_the_local_backend(docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    results = {}
    for backend in ("local", "ray"):
        config = load_config(REPO_ROOT / "configs" / "demo.yaml", runtime="docker", output=str(tmp_path), run_id=backend,
                             backend=backend, workers=2)
        summary = run(config)
        results[backend] = sorted((e.instance_id, e.exit_status, e.resolved, e.steps) for e in summary.episodes)
        patches = {json.loads(line)["instance_id"]: json.loads(line)["model_patch"] for line in (tmp_path / backend / "predictions.jsonl").read_text().splitlines()}
        results[backend + "_patches"] = patches
    assert results["ray"] == results["local"]
    assert results["ray_patches"] == results["local_patches"]
    assert all(resolved for _, _, resolved, _ in results["ray"])
