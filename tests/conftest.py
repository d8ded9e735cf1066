"""Shared, expensive fixtures: the Docker engine, the base image, the demo task images.

Docker-backed tests never skip: if no engine answers (and scripts/start-docker-engine.sh
cannot start one), they fail, so that CI cannot pass without having really run them.
"""

from __future__ import annotations

import os

# Before anything imports litellm: its price list from the package, never from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentenv.env.provision import Provisioned, RuntimeSettings, provision
from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.runtime.engine import engine_answers
from agentenv.runtime.images import BASE_IMAGE, build_base_image
from agentenv.runtime.local_runtime import LocalRuntime
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_TASKS = REPO_ROOT / "tasks" / "demo"
TEST_LABELS = {"agentenv.test": "1"}


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if not engine_answers():
        subprocess.run([str(REPO_ROOT / "scripts" / "start-docker-engine.sh")], check=False)
    if not engine_answers():
        pytest.fail("no Docker engine answers and scripts/start-docker-engine.sh could not start one")


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    return build_base_image(BASE_IMAGE)


@pytest.fixture(scope="session")
def demo_tasks() -> list[Task]:
    return load_tasks(DEMO_TASKS)


@pytest.fixture(scope="session")
def demo_task(demo_tasks: list[Task]) -> Task:
    """One demo task, for tests that need any repository."""
    return next(t for t in demo_tasks if t.instance_id.startswith("spanlib"))


@pytest.fixture(scope="session")
def docker_provisioned(base_image: str, demo_tasks: list[Task]) -> dict[str, Provisioned]:
    """Every demo task's image, built once for the whole session."""
    settings = RuntimeSettings(kind="docker")
    return {t.instance_id: provision(t, settings, labels=TEST_LABELS) for t in demo_tasks}


@pytest.fixture(scope="session")
def local_provisioned(demo_tasks: list[Task]) -> dict[str, Provisioned]:
    settings = RuntimeSettings(kind="local")
    return {t.instance_id: provision(t, settings) for t in demo_tasks}


@pytest.fixture
def docker_runtime(docker_provisioned: dict[str, Provisioned], demo_task: Task) -> Iterator[DockerRuntime]:
    runtime = docker_provisioned[demo_task.instance_id].start()
    assert isinstance(runtime, DockerRuntime)
    yield runtime
    runtime.close()


@pytest.fixture
def local_runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    source = tmp_path / "source"
    source.mkdir()
    (source / "hello.txt").write_text("hello\n")
    runtime = LocalRuntime(source, warn=False, scratch_root=tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture(params=["docker", "local"])
def any_runtime(request: pytest.FixtureRequest) -> Iterator[DockerRuntime | LocalRuntime]:
    """The same test on both runtimes: they share one protocol."""
    yield request.getfixturevalue(f"{request.param}_runtime")


@pytest.fixture(autouse=True, scope="module")
def no_containers_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every module must remove the containers it started (close() is part of the contract)."""
    yield
    if not engine_answers():
        return
    import docker

    mine = docker.from_env().containers.list(all=True, filters={"label": f"agentenv.host_pid={os.getpid()}"})
    # Grading and episode containers are removed in the background; give them a moment.
    deadline = time.monotonic() + 10
    while mine and time.monotonic() < deadline:
        time.sleep(0.5)
        mine = docker.from_env().containers.list(all=True, filters={"label": f"agentenv.host_pid={os.getpid()}"})
    leaked = [(c.short_id, c.labels.get("agentenv.instance_id")) for c in mine]
    for container in mine:
        container.remove(force=True)
    assert not leaked, f"{request.module.__name__} left containers behind: {leaked}"
