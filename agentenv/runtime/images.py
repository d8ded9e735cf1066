"""Images without a registry: the base image, and content-addressed repo images on top of it.

The base image is made with debootstrap and `docker import` (no registry needed), or from any
image a registry offers (`--from python:3.11-slim`). A repo image is built by running a
container from the base with the network on, copying the repository in, running the install
commands, and committing it; its tag is a hash of everything that went in, so a second build
of the same content is a lookup.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker.errors
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field

from agentenv.runtime.docker_runtime import owner_labels
from agentenv.runtime.engine import docker_client, with_engine
from agentenv.runtime.pip_passthrough import host_pip_passthrough

log = logging.getLogger(__name__)

BASE_IMAGE = "agentenv/base:bookworm"
BASE_PACKAGES = ["python3", "python3-venv", "python3-pip", "git", "patch", "ca-certificates"]
VENV = "/opt/venv"
IMAGE_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the way repo images are made changes, so old cached images are not reused.
BUILDER_VERSION = "1"
LOCK_DIR = Path(os.environ.get("AGENTENV_CACHE", Path.home() / ".cache" / "agentenv")) / "locks"

Progress = Callable[[str], None]


class ImageBuildError(Exception):
    """An image could not be built; the message says which step failed and shows its log."""


def image_exists(name: str) -> bool:
    try:
        with_engine("looking up an image")(docker_client().images.get)(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _lock(name: str) -> FileLock:
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    return FileLock(str(LOCK_DIR / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock")))


# -- the base image ---------------------------------------------------------------------------
def build_base_image(
    tag: str = BASE_IMAGE,
    *,
    from_image: str | None = None,
    suite: str = "bookworm",
    mirror: str = DEFAULT_MIRROR,
    force: bool = False,
    progress: Progress = log.info,
) -> str:
    """Build the base image unless it exists. Returns its tag."""
    with _lock(tag):
        if not force and image_exists(tag):
            progress(f"{tag} is already on this engine")
            return tag
        if from_image:
            _base_from_image(tag, from_image, progress)
        else:
            _base_from_debootstrap(tag, suite, mirror, progress)
    return tag


def _base_from_debootstrap(tag: str, suite: str, mirror: str, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is not installed (apt-get install debootstrap), "
            "or pass --from IMAGE where a registry is reachable"
        )
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root; or pass --from IMAGE")
    with tempfile.TemporaryDirectory(prefix="agentenv-rootfs-") as scratch:
        root = Path(scratch) / "root"
        progress(f"debootstrap {suite} into {root} (about a minute)")
        _run_host(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                suite,
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        progress(f"creating the venv {VENV}")
        _run_host(["chroot", str(root), "python3", "-m", "venv", VENV], "creating the venv")
        # Keep the image small: package caches and lists are not needed at run time.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / leftover, ignore_errors=True)
        tar_path = Path(scratch) / "rootfs.tar"
        _run_host(["tar", "-C", str(root), "-cf", str(tar_path), "."], "packing the root fs")
        progress(f"docker import as {tag}")
        repository, _, version = tag.rpartition(":")
        with_engine("importing the base image")(docker_client().api.import_image_from_file)(
            str(tar_path),
            repository=repository,
            tag=version,
            changes=[f"ENV PATH={IMAGE_PATH}", f"ENV VIRTUAL_ENV={VENV}", "WORKDIR /"],
        )


def _base_from_image(tag: str, from_image: str, progress: Progress) -> None:
    client = docker_client()
    if not image_exists(from_image):
        progress(f"pulling {from_image}")
        with_engine(f"pulling {from_image}")(client.images.pull)(from_image)
    setup = (
        f"set -e; command -v python3 >/dev/null || {{ echo 'no python3 in {from_image}'; exit 1; }}; "
        f"python3 -m venv {VENV}"
    )
    _commit_from(
        from_image,
        tag,
        [setup],
        changes=[f"ENV PATH={IMAGE_PATH}", f"ENV VIRTUAL_ENV={VENV}"],
        network=True,
        files=None,
        progress=progress,
    )


def _run_host(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise ImageBuildError(f"{what} failed (exit code {done.returncode}):\n{tail}")


# -- repo images ------------------------------------------------------------------------------
class RepoImageRecipe(BaseModel):
    """What goes into a repo image. `content_id` names the repository's content exactly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="image repository name, e.g. agentenv/task.calc-1")
    base_image: str = BASE_IMAGE
    content_id: str
    repo_dir: str = "/repo"
    install: tuple[str, ...] = ()
    # When the task's tree is its source changed a little (a synthesized task: a bug injected,
    # test files taken out), the install runs once on the source, in an environment image
    # named `env_name`, shared by every task of that source; the task image only swaps the
    # repository's files on top of it.
    env_content_id: str | None = None
    env_name: str | None = None


def recipe_tag(recipe: RepoImageRecipe) -> str:
    base_id = with_engine("looking up the base image")(docker_client().images.get)(
        recipe.base_image
    ).id
    material = json.dumps(
        {
            "builder": BUILDER_VERSION,
            "base": base_id,
            "content": recipe.content_id,
            "repo_dir": recipe.repo_dir,
            "install": list(recipe.install),
        },
        sort_keys=True,
    )
    return f"{recipe.name}:{hashlib.sha256(material.encode()).hexdigest()[:16]}"


def ensure_repo_image(
    recipe: RepoImageRecipe,
    materialize: Callable[[Path], object],
    *,
    materialize_env: Callable[[Path], object] | None = None,
    progress: Progress = log.info,
) -> str:
    """The tag of the repo image for `recipe`, built first if missing.

    `materialize(folder)` writes the repository (its .git included) into `folder`; it is only
    called when the image has to be built. With an `env_content_id`, `materialize_env` writes
    the source the environment image installs.
    """
    if recipe.env_content_id and recipe.env_content_id != recipe.content_id and materialize_env:
        environment = recipe.model_copy(
            update={"name": recipe.env_name or recipe.name + "-env", "content_id": recipe.env_content_id, "env_content_id": None}
        )
        env_tag = ensure_repo_image(environment, materialize_env, progress=progress)
        return _ensure_overlay(recipe, env_tag, materialize, progress)
    if not image_exists(recipe.base_image):
        if recipe.base_image == BASE_IMAGE:
            build_base_image(progress=progress)
        else:
            raise ImageBuildError(
                f"base image {recipe.base_image!r} is not on this engine (no registry to pull from?)"
            )
    tag = recipe_tag(recipe)
    with _lock(tag):
        if image_exists(tag):
            return tag
        with tempfile.TemporaryDirectory(prefix="agentenv-repo-") as scratch:
            folder = Path(scratch) / "repo"
            materialize(folder)
            progress(f"building {tag}")
            _commit_from(
                recipe.base_image,
                tag,
                list(recipe.install),
                changes=[f"WORKDIR {recipe.repo_dir}", f"LABEL agentenv.content={recipe.content_id}"],
                network=bool(recipe.install),
                files=(folder, recipe.repo_dir),
                progress=progress,
            )
    return tag


def _ensure_overlay(recipe: RepoImageRecipe, env_tag: str, materialize: Callable[[Path], object], progress: Progress) -> str:
    env_id = with_engine("looking up an image")(docker_client().images.get)(env_tag).id
    material = json.dumps(
        {"builder": BUILDER_VERSION, "env": env_id, "content": recipe.content_id, "repo_dir": recipe.repo_dir}, sort_keys=True
    )
    tag = f"{recipe.name}:{hashlib.sha256(material.encode()).hexdigest()[:16]}"
    with _lock(tag):
        if image_exists(tag):
            return tag
        with tempfile.TemporaryDirectory(prefix="agentenv-repo-") as scratch:
            folder = Path(scratch) / "repo"
            materialize(folder)
            progress(f"building {tag} on {env_tag}")
            _swap_repository(env_tag, tag, folder, recipe)
    return tag


def _swap_repository(env_tag: str, tag: str, folder: Path, recipe: RepoImageRecipe) -> None:
    """Replace the tracked files of the environment's repository with `folder`'s; what the
    install left untracked (egg-info, build output) stays, as an editable install needs it."""
    tracked = subprocess.run(["git", "-C", str(folder), "ls-files", "-z"], capture_output=True, check=True).stdout
    keep = {name for name in tracked.decode().split("\0") if name}
    client = docker_client()
    container = with_engine("creating a build container")(client.containers.create)(
        env_tag,
        ["/bin/sh", "-c", "while :; do sleep 3600; done"],
        init=True,
        network_mode="none",
        labels=_build_labels(tag),
    )
    try:
        container.start()
        code, output = container.exec_run(["git", "-C", recipe.repo_dir, "ls-files", "-z"])
        if code != 0:
            raise ImageBuildError(f"building {tag}: the environment image's repository has no git index: {output[-300:]!r}")
        stale = [name for name in output.decode().split("\0") if name and name not in keep]
        script = 'cd "$1" && shift && rm -rf .git && for f in "$@"; do rm -f -- "$f"; done'
        for start in range(0, max(len(stale), 1), 500):  # in batches: an argument list has a limit
            container.exec_run(["sh", "-c", script, "sh", recipe.repo_dir, *stale[start : start + 500]])
        parent = os.path.dirname(recipe.repo_dir.rstrip("/")) or "/"
        with_engine("copying the repository into the image")(container.put_archive)(
            parent, _tar_folder(folder, os.path.basename(recipe.repo_dir.rstrip("/")))
        )
        repository, _, version = tag.rpartition(":")
        with_engine("committing the image")(container.commit)(
            repository=repository, tag=version, changes=[f"WORKDIR {recipe.repo_dir}", f"LABEL agentenv.content={recipe.content_id}"]
        )
    finally:
        container.remove(force=True)


def _build_labels(tag: str) -> dict[str, str]:
    """Build containers are managed like episode ones: `agentenv gc` finds them if orphaned."""
    return {**owner_labels(), "agentenv.build": tag}


def _tar_folder(folder: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(folder), arcname=arcname)
    return buffer.getvalue()


def _commit_from(
    base: str,
    tag: str,
    commands: list[str],
    *,
    changes: list[str],
    network: bool,
    files: tuple[Path, str] | None,
    progress: Progress,
) -> None:
    """Run `commands` in a container from `base` (network on only if asked), then commit it."""
    client = docker_client()
    passthrough = host_pip_passthrough() if network else None
    container = with_engine("creating a build container")(client.containers.create)(
        base,
        ["/bin/sh", "-c", "while :; do sleep 3600; done"],
        init=True,
        network_mode="host" if network else "none",
        environment=passthrough.environment if passthrough else {},
        mounts=passthrough.docker_mounts() if passthrough else [],
        labels=_build_labels(tag),
    )
    try:
        container.start()
        workdir = "/"
        if files is not None:
            folder, target = files
            parent = os.path.dirname(target.rstrip("/")) or "/"
            container.exec_run(["mkdir", "-p", parent])
            with_engine("copying the repository into the image")(container.put_archive)(
                parent, _tar_folder(folder, os.path.basename(target.rstrip("/")))
            )
            workdir = target
        for command in commands:
            progress(f"  $ {command}")
            code, output = container.exec_run(["/bin/sh", "-c", command], workdir=workdir)
            if code != 0:
                tail = "\n".join(output.decode("utf-8", "replace").splitlines()[-30:])
                raise ImageBuildError(
                    f"building {tag}: `{command}` failed with exit code {code}:\n{tail}"
                )
        repository, _, version = tag.rpartition(":")
        with_engine("committing the image")(container.commit)(
            repository=repository, tag=version, changes=changes
        )
    finally:
        container.remove(force=True)
