"""Small pieces the image tests share: repositories to build from, images to inspect and spoil."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

from agentenv.tasks.model import Environment, Task

GIT_IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@localhost"]


def git_repo(folder: Path, files: dict[str, str]) -> str:
    """Write `files` into `folder` as a single-commit repository on `main`; its commit."""
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(folder), *GIT_IDENTITY, "commit", "-q", "--allow-empty", "-m", "base"],
        check=True,
    )
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def folder_task(
    source: Path,
    *,
    instance_id: str,
    hidden_tests: tuple[str, ...] = (),
    base_patch: str = "",
    install: tuple[str, ...] = ("true",),
    test_patch: str = "",
) -> Task:
    """A task on a plain folder of a small package with a visible and a hidden test."""
    if not (source / "pkg").exists():
        files = {
            "pkg/__init__.py": "def answer():\n    return 42\n",
            "tests/test_visible.py": "from pkg import answer\n\ndef test_visible():\n    assert answer() == 42\n",
            "tests/test_hidden.py": "from pkg import answer\n\ndef test_hidden():\n    assert answer() + 1 == 43\n",
        }
        for name, text in files.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(text)
    return Task(
        instance_id=instance_id,
        repo_source=str(source),
        problem_statement="a task of the image tests",
        hidden_tests=list(hidden_tests),
        base_patch=base_patch,
        test_patch=test_patch,
        environment=Environment(install=list(install)),
    )


def run_in(image: str, script: str) -> str:
    """What `script` prints (stdout and stderr) in a throwaway container from `image`."""
    output = docker.from_env().containers.run(
        image,
        ["/bin/sh", "-c", script],
        entrypoint=[],
        remove=True,
        network_mode="none",
        stderr=True,
    )
    return output.decode()


def spoil(tag: str, script: str) -> str:
    """Run `script` in a container from `tag` and commit the result under the same tag, as a
    faulty build would have left it; the spoiled image's id."""
    client = docker.from_env()
    container = client.containers.create(
        tag, ["/bin/sh", "-c", "while :; do sleep 3600; done"], entrypoint=[], network_mode="none"
    )
    try:
        container.start()
        code, output = container.exec_run(["/bin/sh", "-c", script], workdir="/repo")
        assert code == 0, output
        repository, _, version = tag.rpartition(":")
        return str(container.commit(repository=repository, tag=version).id)
    finally:
        container.remove(force=True)


@contextmanager
def images_named(*prefixes: str) -> Iterator[None]:
    """Remove, at the end, every image whose repository starts with one of `prefixes`."""
    try:
        yield
    finally:
        client = docker.from_env()
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(prefixes):
                    client.images.remove(tag, force=True)
