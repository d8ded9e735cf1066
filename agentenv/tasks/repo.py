"""The repository an episode starts from: the tree at `base_commit` as a single-commit repo.

A single commit, with no remotes, tags or other refs, so nothing of the project's future (the
fix, later tests) can be read from its history. Its identity, date and message are fixed, so the
same tree always gives the same commit id: the id names the content, and caches key on it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import git
from filelock import FileLock

from agentenv.tasks.model import Task
from agentenv.tasks.pypi import is_pypi, parse_spec, pristine_tree

CACHE_DIR = Path(os.environ.get("AGENTENV_CACHE", Path.home() / ".cache" / "agentenv"))
_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|git@[^:]+:)", re.I)
_FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentenv",
    "GIT_AUTHOR_EMAIL": "agentenv@localhost",
    "GIT_COMMITTER_NAME": "agentenv",
    "GIT_COMMITTER_EMAIL": "agentenv@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+00:00",
}
# Written to .git/info/exclude: what `submit` must never put in a patch.
EXCLUDES = [
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".tox/",
    ".nox/",
    "*.egg-info/",
    ".eggs/",
    "build/",
    "dist/",
    ".coverage",
    "htmlcov/",
    "node_modules/",
    "target/",
    "*.o",
    "*.so",
    ".DS_Store",
]


class RepoSourceError(ValueError):
    """The task's `repo_source` or `base_commit` cannot be used; the message says why."""


def is_url(source: str) -> bool:
    return bool(_URL.match(source))


def source_kind(source: str) -> str:
    """'pypi', 'url', 'git' (a local git repository) or 'folder' (a local folder of files)."""
    if is_pypi(source):
        return "pypi"
    if is_url(source):
        return "url"
    path = Path(source)
    if not path.is_dir():
        raise RepoSourceError(f"repo_source {source!r} is neither a URL nor an existing folder")
    try:
        git.Repo(path, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return "folder"
    return "git"


def folder_fingerprint(folder: Path) -> str:
    """A hash of every file's relative path, executable bit and bytes; what a copy leaves out
    (git metadata, build and test leftovers) is left out here too, so installing the package or
    running its tests in the folder does not change its identity."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if not _left_out_of_copies(p.relative_to(folder))):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            digest.update(f"L {relative} {os.readlink(path)}\n".encode())
        elif path.is_file():
            mode = "x" if path.stat().st_mode & stat.S_IXUSR else "f"
            digest.update(f"{mode} {relative} {path.stat().st_size}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def source_id(task: Task) -> str:
    """A name for the source tree as it is, before the task changes anything."""
    kind = source_kind(task.repo_source)
    if kind == "folder":
        return "folder-" + folder_fingerprint(Path(task.repo_source))
    if kind == "pypi":
        spec = parse_spec(task.repo_source)
        _, digest = pristine_tree(spec)
        return f"pypi-{spec.key}-{digest[:16]}"
    if not task.base_commit:
        raise RepoSourceError(f"task {task.instance_id}: base_commit is required for a git source")
    return "commit-" + task.base_commit


def content_id(task: Task, source: str | None = None) -> str:
    """A name for the base tree: the source's identity (`source_id`, computed unless given),
    plus what the task does to it."""
    source = source or source_id(task)
    if not task.base_patch and not task.hidden_tests:
        return source
    changes = hashlib.sha256(json.dumps([task.base_patch, sorted(task.hidden_tests)]).encode()).hexdigest()
    return f"{source}+{changes[:16]}"


def materialize(task: Task, destination: Path) -> str:
    """Write the task's base tree to `destination` as a single-commit repo; returns its id."""
    kind = source_kind(task.repo_source)
    destination.mkdir(parents=True, exist_ok=False)
    if kind == "folder":
        _copy_plain_folder(Path(task.repo_source), destination)
    elif kind == "pypi":
        pristine, _ = pristine_tree(parse_spec(task.repo_source))
        _copy_plain_folder(pristine, destination)
    else:
        if not task.base_commit:
            raise RepoSourceError(
                f"task {task.instance_id}: base_commit is required for a git source"
            )
        repo_path = _cached_clone(task.repo_source) if kind == "url" else Path(task.repo_source)
        _export_tree(repo_path, task.base_commit, destination)
    _apply_base_patch(task, destination)
    _remove_hidden(task, destination)
    return _commit_single(destination)


def _apply_base_patch(task: Task, destination: Path) -> None:
    if not task.base_patch.strip():
        return
    applied = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"], input=task.base_patch.encode(), cwd=destination,
        capture_output=True, check=False,
    )
    if applied.returncode != 0:
        raise RepoSourceError(
            f"task {task.instance_id}: base_patch does not apply to {task.repo_source}: {applied.stderr.decode()[-500:]}"
        )


def _remove_hidden(task: Task, destination: Path) -> None:
    for relative in task.hidden_tests:
        target = (destination / relative).resolve()
        if destination.resolve() not in target.parents:
            raise RepoSourceError(f"task {task.instance_id}: hidden test {relative!r} is outside the repository")
        if not target.is_file():
            raise RepoSourceError(f"task {task.instance_id}: hidden test {relative!r} is not in the source")
        target.unlink()


def source_file(task: Task, relative: str) -> bytes:
    """A file of the task's source as it is before the task changes anything."""
    kind = source_kind(task.repo_source)
    if kind in ("pypi", "folder"):
        root = pristine_tree(parse_spec(task.repo_source))[0] if kind == "pypi" else Path(task.repo_source)
        target = (root / relative).resolve()
        if root.resolve() not in target.parents:  # a symlink out of the source
            raise RepoSourceError(f"task {task.instance_id}: {relative} leads outside {task.repo_source}")
        return target.read_bytes()
    repo_path = _cached_clone(task.repo_source) if kind == "url" else Path(task.repo_source)
    shown = subprocess.run(
        ["git", "-C", str(repo_path), "show", f"{task.base_commit}:{relative}"], capture_output=True, check=False
    )
    if shown.returncode != 0:
        raise RepoSourceError(f"task {task.instance_id}: {relative} is not in {task.repo_source}")
    return shown.stdout


def new_file_diff(relative: str, data: bytes) -> str:
    """A git diff that creates `relative` with `data` (text)."""
    text = data.decode("utf-8")
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines.pop()
    header = f"diff --git a/{relative} b/{relative}\nnew file mode 100644\n--- /dev/null\n+++ b/{relative}\n"
    if not lines:
        return f"diff --git a/{relative} b/{relative}\nnew file mode 100644\n"
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    return header + f"@@ -0,0 +1,{len(lines)} @@\n" + body


def hidden_test_patch(task: Task) -> str:
    """The test patch that brings a task's hidden test files back."""
    return "".join(new_file_diff(relative, source_file(task, relative)) for relative in task.hidden_tests)


# What copying a plain folder into a task repository leaves behind: git metadata and what
# building, installing or testing the package in place leaves in the folder.
_NOT_COPIED = (
    ".git", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".hypothesis", ".mypy_cache",
    ".ruff_cache", ".tox", ".nox", ".coverage",
)


def _left_out_of_copies(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in _NOT_COPIED)


def _copy_plain_folder(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))


def _export_tree(repo_path: Path, commit: str, destination: Path) -> None:
    repo = git.Repo(repo_path)
    try:
        resolved = repo.commit(commit).hexsha
    except (git.BadName, ValueError) as exc:
        raise RepoSourceError(f"base_commit {commit!r} is not in {repo_path}") from exc
    # `git archive` writes the tree without any history; tar unpacks it.
    archive = subprocess.run(
        ["git", "-C", str(repo_path), "archive", "--format=tar", resolved],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RepoSourceError(f"git archive {resolved} failed: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)


def _cached_clone(url: str) -> Path:
    """A bare mirror of `url` under the cache folder, fetched when first needed."""
    mirrors = CACHE_DIR / "repos"
    mirrors.mkdir(parents=True, exist_ok=True)
    target = mirrors / hashlib.sha256(url.encode()).hexdigest()[:24]
    with FileLock(str(target) + ".lock"):
        if not target.exists():
            try:
                git.Repo.clone_from(url, target, bare=True, mirror=True)
            except git.GitCommandError as exc:
                raise RepoSourceError(f"cannot clone {url}: {exc.stderr.strip()}") from exc
    return target


def _commit_single(destination: Path) -> str:
    env = {**os.environ, **_FIXED_IDENTITY}
    repo = git.Repo.init(destination, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("core", "autocrlf", "false")
        config.set_value("core", "fileMode", "true")
        config.set_value("gc", "auto", "0")
    (destination / ".git" / "info").mkdir(exist_ok=True)
    (destination / ".git" / "info" / "exclude").write_text("\n".join(EXCLUDES) + "\n")
    repo.git.add("--all", "--force", env=env)
    repo.git.commit("--allow-empty", "--no-verify", "--no-gpg-sign", "-q", "-m", "base", env=env)
    # Leave nothing that hints at an origin or another history.
    for hook in (destination / ".git" / "hooks").glob("*"):
        hook.unlink()
    (destination / ".git" / "description").unlink(missing_ok=True)
    return repo.head.commit.hexsha


def cached_checkout(task: Task) -> Path:
    """The task's base repo in the cache folder, made once per content (the local runtime
    copies it for each episode)."""
    key = hashlib.sha256(content_id(task).encode()).hexdigest()[:24]
    checkouts = CACHE_DIR / "checkouts"
    checkouts.mkdir(parents=True, exist_ok=True)
    target = checkouts / key
    with FileLock(str(target) + ".lock"):
        if not (target / ".git").is_dir():
            shutil.rmtree(target, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=checkouts))
            materialize(task, staging / "repo")
            (staging / "repo").rename(target)
            shutil.rmtree(staging, ignore_errors=True)
    return target
