"""Checking that a repo image is what its tag claims, and remembering the images that are.

A repo image's tag names its content, so a bad image (hidden tests left in it, a repository
that is not the base commit) would be reused forever. Each image is checked after it is built
and before a cached one is used: in a container from the image, no hidden path exists (nor
its compiled bytecode), and the repository is one commit (one commit object, one ref, no
other history), HEAD is the expected commit, nothing tracked is changed and nothing is
untracked but what git ignores (`.git/info/exclude`'s caches and build output, and what the
repository's own `.gitignore` files name: an install may write files there, such as a
setuptools-scm version file). Hidden paths are looked for whatever ignores them.

A check costs a container; a positive verdict is kept by image id and what was checked, in
this process and on disk, so reusing a checked image costs a lookup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import docker.errors
from pydantic import BaseModel, ConfigDict, ValidationError

from agentenv.files import write_atomically
from agentenv.runtime.docker_runtime import owner_labels
from agentenv.runtime.engine import docker_client, with_engine

log = logging.getLogger(__name__)

# Bump when the checks change, so that verdicts of the old checks are not trusted.
CHECKER_VERSION = "1"
CHECK_LABEL = "agentenv.image_check"
_CHECK_TIMEOUT = 300.0

# Prints one line per problem; prints nothing for a sound image. Arguments: the repository
# folder, the expected commit, then the paths that must not exist (relative to the folder).
_CHECK_SCRIPT = r"""
cd "$1" 2>/dev/null || { echo "there is no folder $1"; exit 0; }
expected=$2; shift 2
if ! command -v git >/dev/null 2>&1; then echo "there is no git in the image"; exit 0; fi
for path in "$@"; do
  if [ -e "$path" ] || [ -L "$path" ]; then echo "hidden test $path is in the image"; fi
  case "$path" in *.py)
    folder=$(dirname "$path"); stem=$(basename "$path" .py)
    for compiled in "$folder/__pycache__/$stem".*.pyc; do
      [ -e "$compiled" ] && echo "compiled hidden test $compiled is in the image"
    done;;
  esac
done
if ! head=$(git rev-parse --verify -q HEAD); then echo "$1 has no git repository with a commit"; exit 0; fi
[ "$head" = "$expected" ] || echo "HEAD is $head, not the base commit $expected"
commits=$(git cat-file --batch-all-objects --batch-check='%(objecttype)' | grep -c '^commit$')
[ "$commits" = 1 ] || echo "the repository holds $commits commits, not 1"
refs=$(git for-each-ref --format='%(refname)' | tr '\n' ' ')
[ "$refs" = "refs/heads/main " ] || echo "the repository has other refs than its branch: $refs"
remotes=$(git remote | tr '\n' ' ')
[ -z "$remotes" ] || echo "the repository has remotes: $remotes"
changed=$(git status --porcelain --untracked-files=no | head -5 | tr '\n' ';')
[ -z "$changed" ] || echo "tracked files differ from the base commit: $changed"
untracked=$(git ls-files --others --exclude-standard | head -5 | tr '\n' ' ')
[ -z "$untracked" ] || echo "untracked files that nothing ignores: $untracked"
exit 0
"""


class RepoExpectation(BaseModel):
    """What a repo image must be. `content_id` names the repository's content, so a verdict
    about it holds for that content; `hidden` are paths (relative to `repo_dir`) that must
    not be in the image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo_dir: str
    content_id: str
    hidden: tuple[str, ...] = ()


class ImageVerdict(BaseModel):
    """A positive verdict on disk: `image_id` was checked against `expectation`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    checker: str
    image_id: str
    expectation: RepoExpectation
    commit: str
    checked_at: datetime


_verified: set[str] = set()
_verified_lock = threading.Lock()


def _verdict_dir() -> Path:
    return (
        Path(os.environ.get("AGENTENV_CACHE", Path.home() / ".cache" / "agentenv")) / "image-checks"
    )


def _verdict_key(image_id: str, expectation: RepoExpectation) -> str:
    material = json.dumps(
        {
            "checker": CHECKER_VERSION,
            "image": image_id,
            "expectation": expectation.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def known_good(image_id: str, expectation: RepoExpectation) -> bool:
    """Whether `image_id` passed the checks for `expectation` (in this process, or recorded)."""
    key = _verdict_key(image_id, expectation)
    with _verified_lock:
        if key in _verified:
            return True
    path = _verdict_dir() / f"{key[:40]}.json"
    try:
        verdict = ImageVerdict.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("ignoring the image verdict %s: %s", path, exc)
        return False
    if (
        verdict.checker != CHECKER_VERSION
        or verdict.image_id != image_id
        or verdict.expectation != expectation
    ):
        return False
    with _verified_lock:
        _verified.add(key)
    return True


def record_good(image_id: str, expectation: RepoExpectation, commit: str) -> None:
    key = _verdict_key(image_id, expectation)
    verdict = ImageVerdict(
        checker=CHECKER_VERSION,
        image_id=image_id,
        expectation=expectation,
        commit=commit,
        checked_at=datetime.now(UTC),
    )
    folder = _verdict_dir()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / f"{key[:40]}.json", verdict.model_dump_json(indent=1))
    with _verified_lock:
        _verified.add(key)


def forget_verdicts() -> None:
    """Drop this process's verdicts (the ones on disk stay)."""
    with _verified_lock:
        _verified.clear()


def head_commit(folder: Path) -> str:
    """The commit of the repository written to `folder` (for the check of its image)."""
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(folder), "rev-parse", "--verify", "-q", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (folder / ".git").is_dir():
        raise ValueError(
            f"{folder} is not a git repository with a commit: a repo image holds its base commit"
        )
    return done.stdout.strip()


def image_problems(image_id: str, expectation: RepoExpectation, commit: str) -> list[str]:
    """What is wrong with the image (nothing: an empty list), checked in a container from it."""
    client = docker_client()
    container = with_engine("creating a container to check an image")(client.containers.create)(
        image_id,
        entrypoint=[
            "/bin/sh",
            "-c",
            _CHECK_SCRIPT,
            "sh",
            expectation.repo_dir,
            commit,
            *expectation.hidden,
        ],
        network_mode="none",
        labels={**owner_labels(), CHECK_LABEL: image_id},
        security_opt=["no-new-privileges"],
    )
    try:
        with_engine("starting a container to check an image")(container.start)()
        status = container.wait(timeout=_CHECK_TIMEOUT)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError as exc:
            log.warning("could not remove the check container %s: %s", container.short_id, exc)
    problems = [line.strip() for line in output.splitlines() if line.strip()]
    if status.get("StatusCode") != 0:
        problems.append(f"the check itself failed (exit code {status.get('StatusCode')})")
    return problems
