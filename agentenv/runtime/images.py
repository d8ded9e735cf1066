"""Images without a registry: the base image, and content-addressed repo images on top of it.

The base image is made with debootstrap and `docker import` (no registry needed), or from any
image a registry offers (`--from python:3.11-slim`). A repo image is built in a container from
the base with the network on: the repository is copied in, the install commands run, and the
container is committed (`build_container.py`: the image keeps nothing of the build). Its tag is
a hash of everything that went in, so a second build of the same content is a lookup; and
since a tag is trusted for as long as the image lives, every repo image is checked when it is
built and before a cached one is used (`image_check.py`), and rebuilt if it is not what its
tag claims.

Builds of one tag are serialized by a file lock per engine and tag, kept outside the cache
folder: processes with different `AGENTENV_CACHE` folders share an engine, and its tags.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker.errors
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field

from agentenv.runtime.build_container import (
    BuildContainer,
    BuildTimeouts,
    ImageBuildError,
    ImageBuildTimeout,
)
from agentenv.runtime.engine import docker_client, with_engine
from agentenv.runtime.image_check import (
    RepoExpectation,
    head_commit,
    image_problems,
    known_good,
    record_good,
)

__all__ = [
    "BASE_IMAGE",
    "BuildTimeouts",
    "ImageBuildError",
    "ImageBuildTimeout",
    "RepoImageRecipe",
    "build_base_image",
    "ensure_repo_image",
    "image_exists",
]

log = logging.getLogger(__name__)

BASE_IMAGE = "agentenv/base:bookworm"
BASE_PACKAGES = ["python3", "python3-venv", "python3-pip", "git", "patch", "ca-certificates"]
VENV = "/opt/venv"
IMAGE_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the way repo images are made changes, so old cached images are not reused.
# 2: images keep no build settings (labels, pip environment, command); no stale bytecode.
BUILDER_VERSION = "2"
CONTENT_LABEL = "agentenv.content"
LOCK_DIR = Path(tempfile.gettempdir()) / "agentenv-image-locks"

Progress = Callable[[str], None]


def _image_id(name: str) -> str | None:
    try:
        return str(with_engine("looking up an image")(docker_client().images.get)(name).id)
    except docker.errors.ImageNotFound:
        return None


def image_exists(name: str) -> bool:
    return _image_id(name) is not None


@functools.cache
def _engine_id(base_url: str) -> str:
    return str(
        with_engine("asking the engine its id")(docker_client().info)().get("ID") or base_url
    )


def _lock(name: str) -> FileLock:
    """The lock of image `name` on this engine, for every process of this machine."""
    if not LOCK_DIR.is_dir():
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        try:
            LOCK_DIR.chmod(0o1777)  # every user's builds share the engine's tags
        except OSError:
            pass
    engine = _engine_id(docker_client().api.base_url)
    key = hashlib.sha256(f"{engine}\0{name}".encode()).hexdigest()[:24]
    return FileLock(str(LOCK_DIR / f"{key}.lock"), mode=0o666)


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
    parent = _image_id(from_image)
    assert parent is not None
    setup = (
        f"set -e; command -v python3 >/dev/null || {{ echo 'no python3 in {from_image}'; exit 1; }}; "
        f"python3 -m venv {VENV}"
    )
    workdir = (client.api.inspect_image(parent)["Config"] or {}).get("WorkingDir") or "/"
    with BuildContainer(
        parent, tag, network=True, timeouts=BuildTimeouts.from_environment(), progress=progress
    ) as build:
        build.run(setup, workdir="/")
        image = build.commit(
            workdir=workdir, labels={}, environment={"PATH": IMAGE_PATH, "VIRTUAL_ENV": VENV}
        )
    _tag_image(image, tag)


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
    hidden: tuple[str, ...] = Field(
        default=(),
        description="paths (relative to repo_dir) that must not be in the image: hidden tests",
    )


def _tag(name: str, material: dict[str, object]) -> str:
    digest = hashlib.sha256(
        json.dumps({"builder": BUILDER_VERSION, **material}, sort_keys=True).encode()
    ).hexdigest()
    return f"{name}:{digest[:16]}"


def _base_image_id(recipe: RepoImageRecipe, progress: Progress) -> str:
    base_id = _image_id(recipe.base_image)
    if base_id is None and recipe.base_image == BASE_IMAGE:
        build_base_image(progress=progress)
        base_id = _image_id(recipe.base_image)
    if base_id is None:
        raise ImageBuildError(
            f"base image {recipe.base_image!r} is not on this engine (no registry to pull from?)"
        )
    return base_id


def recipe_tag(recipe: RepoImageRecipe) -> str:
    """The tag of a recipe built on its base image (not on an environment image)."""
    base_id = _image_id(recipe.base_image)
    if base_id is None:
        raise ImageBuildError(f"base image {recipe.base_image!r} is not on this engine")
    return _direct_tag(recipe, base_id)


def _direct_tag(recipe: RepoImageRecipe, base_id: str) -> str:
    material = {
        "base": base_id,
        "content": recipe.content_id,
        "repo_dir": recipe.repo_dir,
        "install": list(recipe.install),
    }
    return _tag(recipe.name, material)


def ensure_repo_image(
    recipe: RepoImageRecipe,
    materialize: Callable[[Path], object],
    *,
    materialize_env: Callable[[Path], object] | None = None,
    timeouts: BuildTimeouts | None = None,
    progress: Progress = log.info,
) -> str:
    """The tag of the repo image for `recipe`, built first if missing or not what it claims.

    `materialize(folder)` writes the repository (a single-commit git repository) into
    `folder`; it is called to build the image, and to learn the expected commit when a cached
    image is checked for the first time. With an `env_content_id`, `materialize_env` writes the
    source the environment image installs.
    """
    timeouts = timeouts or BuildTimeouts.from_environment()
    return _ensure(recipe, materialize, materialize_env, timeouts, progress)[0]


def _ensure(
    recipe: RepoImageRecipe,
    materialize: Callable[[Path], object],
    materialize_env: Callable[[Path], object] | None,
    timeouts: BuildTimeouts,
    progress: Progress,
) -> tuple[str, str]:
    """(tag, id) of the checked image. Every image is built from an image *id* resolved once,
    and its tag hashes that id: a parent retagged meanwhile cannot give the tag other content."""
    build: Callable[[Path], str]
    if recipe.env_content_id and recipe.env_content_id != recipe.content_id and materialize_env:
        environment = recipe.model_copy(
            update={
                "name": recipe.env_name or recipe.name + "-env",
                "content_id": recipe.env_content_id,
                "env_content_id": None,
                "hidden": (),  # the environment is the source as it is, its tests included
            }
        )
        env_tag, env_id = _ensure(environment, materialize_env, None, timeouts, progress)
        tag = _tag(
            recipe.name, {"env": env_id, "content": recipe.content_id, "repo_dir": recipe.repo_dir}
        )

        def build(folder: Path) -> str:
            progress(f"building {tag} on {env_tag}")
            return _swap_repository(env_id, tag, folder, recipe, timeouts, progress)

    else:
        base_id = _base_image_id(recipe, progress)
        tag = _direct_tag(recipe, base_id)

        def build(folder: Path) -> str:
            progress(f"building {tag}")
            return _build_on_base(base_id, tag, folder, recipe, timeouts, progress)

    return tag, _checked_image(tag, recipe, materialize, build, progress)


def _checked_image(
    tag: str,
    recipe: RepoImageRecipe,
    materialize: Callable[[Path], object],
    build: Callable[[Path], str],
    progress: Progress,
) -> str:
    """The id of a sound image tagged `tag`: the cached one if it passes the checks, else a
    new build, which must pass them too (a bad image is never used)."""
    expectation = RepoExpectation(
        repo_dir=recipe.repo_dir, content_id=recipe.content_id, hidden=tuple(sorted(recipe.hidden))
    )
    with _lock(tag):
        cached = _image_id(tag)
        if cached is not None:
            if known_good(cached, expectation):
                return cached
            with tempfile.TemporaryDirectory(prefix="agentenv-repo-") as scratch:
                commit = _materialized_commit(materialize, Path(scratch) / "repo", tag)
            problems = image_problems(cached, expectation, commit)
            if not problems:
                record_good(cached, expectation, commit)
                return cached
            progress(f"{tag} is not what its tag claims ({'; '.join(problems)}): rebuilding it")
            log.warning(
                "%s is not what its tag claims (%s): rebuilding it", tag, "; ".join(problems)
            )
            _untag(tag)
        with tempfile.TemporaryDirectory(prefix="agentenv-repo-") as scratch:
            folder = Path(scratch) / "repo"
            commit = _materialized_commit(materialize, folder, tag)
            image = build(folder)
        problems = image_problems(image, expectation, commit)
        if problems:
            _remove_image(image)
            raise ImageBuildError(
                f"building {tag}: the new image is not what its tag claims, so it is not kept: "
                + "; ".join(problems)
            )
        record_good(image, expectation, commit)
        _tag_image(image, tag)
        return image


def _materialized_commit(materialize: Callable[[Path], object], folder: Path, tag: str) -> str:
    materialize(folder)
    try:
        return head_commit(folder)
    except ValueError as exc:
        raise ImageBuildError(f"building {tag}: {exc}") from None


def _tag_image(image: str, tag: str) -> None:
    repository, _, version = tag.rpartition(":")
    with_engine("tagging an image")(docker_client().api.tag)(image, repository, version, force=True)


def _untag(tag: str) -> None:
    """Take the tag off a bad image (containers running from it keep running)."""
    _remove_image(tag)


def _remove_image(name: str) -> None:
    try:
        with_engine("removing a bad image")(docker_client().api.remove_image)(name, force=True)
    except docker.errors.ImageNotFound:
        pass


def _build_on_base(
    base_id: str,
    tag: str,
    folder: Path,
    recipe: RepoImageRecipe,
    timeouts: BuildTimeouts,
    progress: Progress,
) -> str:
    with BuildContainer(
        base_id, tag, network=bool(recipe.install), timeouts=timeouts, progress=progress
    ) as build:
        build.put_folder(folder, recipe.repo_dir)
        for command in recipe.install:
            build.run(command, workdir=recipe.repo_dir)
        return build.commit(workdir=recipe.repo_dir, labels={CONTENT_LABEL: recipe.content_id})


# Lists the files the environment's repository tracks, then a line that ends the list.
_END_OF_LIST = b"agentenv: end of the list"
_LIST_TRACKED = f'git -C "$1" ls-files -z && printf "%s\\0" "{_END_OF_LIST.decode()}"'
# Removes the environment's git metadata and the files it tracks that the task's tree has not.
_REMOVE_STALE = 'cd "$1" && shift && rm -rf .git && for f in "$@"; do rm -f -- "$f" || exit 1; done'


def _swap_repository(
    env_id: str,
    tag: str,
    folder: Path,
    recipe: RepoImageRecipe,
    timeouts: BuildTimeouts,
    progress: Progress,
) -> str:
    """Replace the tracked files of the environment's repository with `folder`'s; what the
    install left untracked (egg-info, build output) stays, as an editable install needs it."""
    # Whoever wrote the folder: it is ours to read (git refuses other users' repositories).
    tracked = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(folder), "ls-files", "-z"],
        capture_output=True,
        check=True,
    ).stdout
    keep = {name for name in tracked.decode().split("\0") if name}
    with BuildContainer(env_id, tag, network=False, timeouts=timeouts, progress=progress) as build:
        listed = build.exec(
            ["sh", "-c", _LIST_TRACKED, "sh", recipe.repo_dir],
            what="listing the environment's repository",
        ).split(b"\0")
        # docker-py ends an output stream quietly when its socket fails between two frames:
        # a list cut short would leave files (hidden tests) in the image as if they were kept.
        if listed[-2:] != [_END_OF_LIST, b""]:
            raise ImageBuildError(
                f"building {tag}: the list of the environment's files was cut short"
            )
        stale = [name.decode() for name in listed[:-2] if name and name.decode() not in keep]
        for start in range(0, max(len(stale), 1), 500):  # in batches: an argument list has a limit
            batch = stale[start : start + 500]
            build.exec(
                ["sh", "-c", _REMOVE_STALE, "sh", recipe.repo_dir, *batch],
                what="removing the environment's repository",
            )
        # Bytecode compiled while installing holds the source as the environment has it: for
        # a file the task changes (its bug), the original code, which is the fix.
        build.exec(
            [
                "find",
                recipe.repo_dir,
                "-name",
                "__pycache__",
                "-type",
                "d",
                "-prune",
                "-exec",
                "rm",
                "-rf",
                "{}",
                "+",
            ],
            what="removing the environment's bytecode",
        )
        build.put_folder(folder, recipe.repo_dir)
        return build.commit(workdir=recipe.repo_dir, labels={CONTENT_LABEL: recipe.content_id})
