"""Helpers for runs of the LLM agent against `llm_stub.StubLLMServer`: a run config that points
litellm at the stub, the task a request is about, and the containers a run has on the engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors

from agentenv.tasks.model import Task

from .conftest import REPO_ROOT

AGENTENV = [sys.executable, "-m", "agentenv.cli.main"]
KEY_ENV = "AGENTENV_TEST_KEY"
# What one stub reply costs at the prices llm_config sets (100 prompt + 20 completion tokens).
CALL_COST = 120 * 0.0001


def llm_config(tmp_path: Path, base_url: str, run_id: str, **settings: Any) -> Path:
    """A run config (JSON is YAML) for the LLM agent on the demo tasks, priced per token so
    that costs are exact: each stub reply (100 prompt + 20 completion tokens) costs $0.012."""
    agent = {
        "type": "llm", "model": "openai/stub-model", "api_base": base_url, "api_key_env": KEY_ENV,
        "input_cost_per_token": 0.0001, "output_cost_per_token": 0.0001,
        "retry": {"attempts": 1},
        **settings.pop("agent", {}),
    }
    config = {
        "tasks": str(REPO_ROOT / "tasks" / "demo"), "runtime": "docker", "workers": 1, "max_steps": 8,
        "output": str(tmp_path), "run_id": run_id, "agent": agent, **settings,
    }
    path = tmp_path / f"{run_id}.yaml"
    path.write_text(json.dumps(config))
    return path


def task_of(request: dict[str, Any], tasks: list[Task]) -> str:
    """The instance id a chat request is about (its instance message quotes the problem)."""
    instance = request["messages"][1]["content"]
    return next(t.instance_id for t in tasks if t.problem_statement.strip()[:80] in instance)


def steps_of(request: dict[str, Any]) -> int:
    """How many actions the agent has taken before this request."""
    return sum(1 for m in request["messages"] if m["role"] == "assistant" and m.get("tool_calls"))


def bash(command: str) -> dict[str, Any]:
    return {"name": "bash", "arguments": {"command": command}}


SUBMIT = {"name": "submit", "arguments": {}}


def run_containers(run_id: str, engine: docker.DockerClient | None = None) -> list[dict[str, Any]]:
    """Every container (running or not) of the run `run_id` on the engine: the engine's listing
    (`Id`, `Labels`, `State`...), which no removal in the meantime can make fail."""
    client = engine or docker.from_env()
    return client.api.containers(all=True, filters={"label": f"agentenv.run_id={run_id}"})


def start_cli(*args: str, output: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`agentenv ARGS` in its own process group, as a terminal would start it; its stdout and
    stderr go to the file `output` (a pipe nobody reads would block it once full)."""
    with open(output, "w") as handle:
        return subprocess.Popen(
            [*AGENTENV, *args], cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, KEY_ENV: "sk-test", "COLUMNS": "200", **(env or {})}, start_new_session=True,
        )


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENTENV, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, KEY_ENV: "sk-test", "COLUMNS": "200", **(env or {})},
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended before {what} (exit status {process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def unique_run_id(prefix: str) -> str:
    """A run id no other test run uses: containers are found by their run id label."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kill_group(process: subprocess.Popen[str], run_id: str | None = None) -> None:
    """Leave nothing running when a test fails half-way: the process, and its run's containers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if run_id is not None:
        client = docker.from_env()
        for container in run_containers(run_id, client):
            try:
                client.api.remove_container(container["Id"], force=True)
            except docker.errors.NotFound:
                pass  # gone in the meantime
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is already under way
                    raise
