"""Runs at scale: samples, and the Ray backend against the local one. (Faults: test_run_faults.)"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from agentenv.rollout.config import load_config
from agentenv.rollout.runner import run
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT


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
