"""Images without a registry: the base image once, repo images cached by content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import docker
import pytest

from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.runtime.images import (
    ImageBuildError,
    RepoImageRecipe,
    build_base_image,
    ensure_repo_image,
)

from .conftest import REPO_ROOT
from .image_helpers import git_repo, unique


def test_build_base_a_second_time_returns_at_once(base_image: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentenv.cli.main", "image", "build-base"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode == 0
    assert "already on this engine" in done.stderr


def test_base_from_another_image(base_image: str) -> None:
    # --from works with any local image (a registry image where one is reachable).
    # Names of their own: other checkouts may run these tests on the same engine at once.
    tag = f"agentenv/{unique('test-base-from')}:latest"
    client = docker.from_env()
    try:
        build_base_image(tag, from_image=base_image, force=True)
        with DockerRuntime(tag, repo_dir="/") as runtime:
            assert runtime.run("command -v python").output.strip() == "/opt/venv/bin/python"
        # Built with the network and the host's pip settings, it keeps neither, nor labels.
        config = client.api.inspect_image(tag)["Config"]
        assert [e for e in config["Env"] if not e.startswith(("PATH=", "VIRTUAL_ENV="))] == []
        assert not config["Labels"] and config["Cmd"] is None
    finally:
        client.images.remove(tag, force=True)


def test_repo_images_are_cached_by_content(base_image: str, tmp_path: Path) -> None:
    client = docker.from_env()
    built: list[str] = []

    def materialize(destination: Path) -> None:
        built.append(str(destination))
        git_repo(destination, {"m.py": "x = 1\n"})

    recipe = RepoImageRecipe(name=f"agentenv/{unique('test-cache')}", content_id="content-a", install=("echo installed > /tmp/i",))
    first = ensure_repo_image(recipe, materialize)
    again = ensure_repo_image(recipe, materialize)
    changed = ensure_repo_image(recipe.model_copy(update={"content_id": "content-b"}), materialize)
    other_install = ensure_repo_image(recipe.model_copy(update={"install": ("true",)}), materialize)
    try:
        assert first == again and len(built) == 3
        assert len({first, changed, other_install}) == 3
        with DockerRuntime(first) as runtime:
            assert runtime.run("cat m.py /tmp/i").output == "x = 1\ninstalled\n"
            assert runtime.cwd == "/repo"
    finally:
        for tag in {first, changed, other_install}:
            client.images.remove(tag, force=True)


def test_a_failing_install_command_names_itself(base_image: str) -> None:
    recipe = RepoImageRecipe(name=f"agentenv/{unique('test-fail')}", content_id="c", install=("echo about to fail; exit 7",))
    with pytest.raises(ImageBuildError, match=r"`echo about to fail; exit 7` failed with exit code 7:\nabout to fail"):
        ensure_repo_image(recipe, lambda destination: git_repo(destination, {}))


def test_install_commands_reach_the_package_index(base_image: str) -> None:
    recipe = RepoImageRecipe(
        name=f"agentenv/{unique('test-pip')}", content_id="c", install=("python -m pip install --no-cache-dir 'six==1.16.0'",)
    )
    tag = ensure_repo_image(recipe, lambda destination: git_repo(destination, {"m.py": "x = 1\n"}))
    try:
        with DockerRuntime(tag) as runtime:
            assert runtime.run("python -c 'import six; print(six.__version__)'").output == "1.16.0\n"
    finally:
        docker.from_env().images.remove(tag, force=True)
