"""What changed between two releases of a package, split the way a fix and its tests are.

The diff from the older release's tree to the newer one's (both as agentenv makes a task's base
repository, so the diff applies to it) is split by file:

- test files (`agentenv.diffs.is_test_path`, the rule the grader uses to keep an agent's hands
  off tests) make the hidden `test_patch`;
- release noise is left out, each file with its reason: release notes (kept aside, they may
  become the problem statement), documentation, packaging and CI metadata (PKG-INFO,
  setup.py, pyproject.toml, tox.ini, .github/ ...: the environment is built from the older
  release, so a change there could not reach the tests anyway), other top-level files that are
  not Python modules (README, LICENSE ...), and version bumps (lines that differ only by the
  version number, and version modules whose changed lines are all version or build stamps);
- everything else is the fix: the reference `patch`.

SWE-bench splits a pull request's diff with a coarser rule (any path containing "test" is a
test file, so `latest.py` or `pkg/testing.py` would be hidden tests); agentenv's rule keeps
library code such as `numpy/testing/` in the patch, where the grader expects it.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from agentenv.diffs import files_in_patch, is_test_path
from agentenv.tasks.model import Task
from agentenv.tasks.repo import materialize

# Release notes: by file name (any extension but .py) or by folder.
_NOTES_NAME = re.compile(
    r"^(changes|changelog|change_log|change-log|history|news|releases?|release[-_]?notes|versions|whatsnew|whats[-_]new)"
    r"(\.(rst|md|txt|markdown|adoc|org))?$",
    re.I,
)
_NOTES_DIRS = {"changelog.d", "changes", "newsfragments", "news", "changelog", "releasenotes"}
_DOC_DIRS = {"docs", "doc", "documentation", "site"}
_CI_DIRS = {".github", ".circleci", ".gitlab", ".azure-pipelines", ".ci", "ci"}
# Files that describe how the package is built, installed, checked or released.
_PACKAGING_NAMES = {
    "pkg-info", "setup.py", "setup.cfg", "pyproject.toml", "manifest.in", "tox.ini", "noxfile.py",
    "pipfile", "pipfile.lock", "poetry.lock", "pdm.lock", "uv.lock", "makefile", "requirements.txt",
    ".gitignore", ".gitattributes", ".pre-commit-config.yaml", ".readthedocs.yml", ".readthedocs.yaml",
    ".coveragerc", ".editorconfig", ".flake8", "mypy.ini", ".travis.yml", "appveyor.yml",
    "codecov.yml", ".bumpversion.cfg", ".mailmap", "build.py", "hatch_build.py",
}  # fmt: skip
_VERSION_MODULES = {"_version.py", "__version__.py", "version.py", "__about__.py", "_about.py", "__pkginfo__.py"}
# A changed line of a version module that only stamps the build: version, commit, date.
_STAMP_LINE = re.compile(r"version|commit|revision|date|release|build|^\s*$|^\s*#", re.I)
_HEADER_UNDERLINE = re.compile(r"^\s*([-=~^*#+`])\1{2,}\s*$")
# The heading of a release in a notes file: "1.2.3", "## [1.2.3] - 2024-01-02", "Version 1.2.3".
_RELEASE_HEADING = re.compile(r"^[\s#*=\[-]*(version\s+|release\s+|v)?\d+(\.\d+)+\b", re.I)
_DATE_LINE = re.compile(r"^[\W_]*(released\s+(on\s+)?)?(\w+\.? \d{1,2},? \d{4}|\d{4}-\d{2}-\d{2}|\d{1,2} \w+ \d{4})[\W_]*$", re.I)
# reStructuredText fields under a release's heading (":Released: 2024-05-06", ":Maintainer: X").
_FIELD_LINE = re.compile(r"^:[\w ]+:")
_ANCHOR_LINE = re.compile(r"^\s*<a (name|id)=")
_GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_LITERAL_PATHSPECS": "1"}

VERSION_BUMP = "only its version number changes"


class ReleaseDiffError(ValueError):
    """The two releases cannot be compared; the message says why."""


class DroppedChange(BaseModel):
    """A file the newer release changed that the reference patch leaves out, and why."""

    path: str
    reason: str


class ReleaseDiff(BaseModel):
    patch: str = ""  # the fix: changed package code
    test_patch: str = ""  # changed test files
    dropped: list[DroppedChange] = Field(default_factory=list)
    # The lines the newer release added to its release notes (their first notes file that
    # changed), without the version's own heading.
    release_notes: str = ""

    @property
    def patch_files(self) -> list[str]:
        return files_in_patch(self.patch)

    @property
    def test_files(self) -> list[str]:
        return files_in_patch(self.test_patch)


def noise_reason(path: str) -> str | None:
    """Why a changed file of a release is not part of a fix, or None when it may be."""
    parts = PurePosixPath(path).parts
    name, folders = parts[-1], [p.lower() for p in parts[:-1]]
    if folders and folders[0] in _CI_DIRS:
        return "continuous integration settings"
    if folders and folders[0].startswith("."):
        return "tool or editor settings (a dot-folder)"
    if is_release_notes(path):
        return "release notes"
    if folders and folders[0] in _DOC_DIRS:
        return "documentation"
    lowered = name.lower()
    if not folders and (lowered in _PACKAGING_NAMES or re.fullmatch(r"requirements[-_.\w]*\.(txt|in)", lowered)):
        return "packaging metadata (the environment is built from the older release)"
    if folders and folders[0] == "requirements":
        return "packaging metadata (the environment is built from the older release)"
    if lowered.endswith(".egg-info") or any(f.endswith(".egg-info") for f in folders):
        return "packaging metadata (the environment is built from the older release)"
    if not folders and not name.endswith((".py", ".pyi")):
        return "a top-level file that is not package code"
    return None


def is_release_notes(path: str) -> bool:
    parts = PurePosixPath(path).parts
    folders = [p.lower() for p in parts[:-1]]
    if any(folder in _NOTES_DIRS for folder in folders):
        return True
    return not parts[-1].endswith((".py", ".pyi")) and bool(_NOTES_NAME.match(parts[-1]))


def _lines(text: str) -> list[str]:
    """Lines with their "\\n" (only "\\n" ends a line, as for git)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    return out + ([lines[-1]] if lines[-1] else [])


def _version_forms(old: str, new: str) -> list[tuple[str, str]]:
    forms = [(old, new)]
    old_parts, new_parts = old.split("."), new.split(".")
    if all(p.isdigit() for p in old_parts + new_parts):
        for separator in (", ", ","):  # VERSION = (1, 2, 3)
            forms.append((separator.join(old_parts), separator.join(new_parts)))
    return forms


def without_version_bump(old_text: str, new_text: str, old_version: str, new_version: str) -> str:
    """`new_text` with every line that differs from its old line only by the version number
    put back as it was."""
    forms = _version_forms(old_version, new_version)
    old_lines, new_lines = _lines(old_text), _lines(new_text)
    kept: list[str] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            for old_line, new_line in zip(old_lines[i1:i2], new_lines[j1:j2], strict=True):
                bump = any(old_line.replace(a, b) == new_line for a, b in forms)
                kept.append(old_line if bump else new_line)
        else:
            kept.extend(new_lines[j1:j2])
    return "".join(kept)


def _only_stamps_change(old_text: str, new_text: str) -> bool:
    changed = [
        line[1:]
        for line in difflib.unified_diff(_lines(old_text), _lines(new_text), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return all(_STAMP_LINE.search(line) for line in changed)


def _git(repo: Path, *args: str, work_tree: Path | None = None) -> bytes:
    prefix = ["git", "-C", str(repo)] + ([f"--work-tree={work_tree}"] if work_tree else [])
    done = subprocess.run([*prefix, *args], capture_output=True, env={**os.environ, **_GIT_ENV}, check=False)
    if done.returncode != 0:
        raise ReleaseDiffError(f"git {' '.join(args[:2])} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReleaseDiffError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _base_repo(source: str, destination: Path) -> Path:
    """The source's tree exactly as a task's base repository holds it."""
    materialize(Task(instance_id="release", repo_source=source, problem_statement="-"), destination)
    return destination


def split_release(old_source: str, new_source: str, old_version: str, new_version: str) -> ReleaseDiff:
    """The diff from `old_source`'s tree to `new_source`'s (pypi: sources or folders), split
    into the fix, its tests and release noise (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="agentenv-release-") as scratch:
        old = _base_repo(old_source, Path(scratch) / "old")
        new = _base_repo(new_source, Path(scratch) / "new")
        _git(old, "add", "--all", "--force", ".", work_tree=new)
        changed = _text(_git(old, "diff", "--cached", "--no-renames", "--name-only", "-z"), "a file name").split("\0")
        result = ReleaseDiff()
        source_paths, test_paths, notes_paths, rewritten = [], [], [], []
        for path in sorted(p for p in changed if p):
            if is_test_path(path):
                test_paths.append(path)
                continue
            reason = noise_reason(path)
            if reason == "release notes":
                notes_paths.append(path)
            if reason is not None:
                result.dropped.append(DroppedChange(path=path, reason=reason))
                continue
            reason, scrubbed = _version_only(old, new, path, old_version, new_version)
            if reason is not None:
                result.dropped.append(DroppedChange(path=path, reason=reason))
                _git(old, "reset", "-q", "--", path)  # the old file stays as it was
                continue
            source_paths.append(path)
            rewritten += [path] if scrubbed else []
        if rewritten:  # again: their version lines were put back
            _git(old, "add", "--force", "--", *rewritten, work_tree=new)

        def diff(paths: list[str], *options: str) -> str:
            if not paths:
                return ""
            output = _git(old, "diff", "--cached", "--no-renames", "--binary", "--full-index", *options, "--", *paths)
            return _text(output, f"the diff of {', '.join(paths[:3])}")

        result.patch = diff(source_paths)
        result.test_patch = diff(test_paths)
        result.release_notes = _release_notes(new, notes_paths, new_version)
        if not result.release_notes:  # some projects keep their history in the README
            readmes = [d.path for d in result.dropped if d.path.lower().startswith("readme")]
            result.release_notes = _readme_notes(diff(readmes[:1], "-U0"), new_version)
    return result


def _version_only(old: Path, new: Path, path: str, old_version: str, new_version: str) -> tuple[str | None, bool]:
    """(A reason to leave the file out if the newer release changed nothing in it but version
    numbers, or None; whether the new file's version lines were put back to the old ones)."""
    target = new / path
    if not target.is_file() or target.is_symlink():
        return None, False
    shown = subprocess.run(
        ["git", "-C", str(old), "show", f"HEAD:{path}"], capture_output=True, env={**os.environ, **_GIT_ENV}, check=False
    )
    if shown.returncode != 0:
        return None, False  # a new file
    try:
        old_text, new_text = shown.stdout.decode("utf-8"), target.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None, False
    scrubbed = without_version_bump(old_text, new_text, old_version, new_version)
    if scrubbed == old_text:
        return VERSION_BUMP, False
    if PurePosixPath(path).name in _VERSION_MODULES and _only_stamps_change(old_text, scrubbed):
        return "a version module whose changed lines are version or build stamps", False
    if scrubbed == new_text:
        return None, False
    target.write_bytes(scrubbed.encode("utf-8"))
    return None, True


def _names(line: str, version: str) -> bool:
    return re.search(rf"(?<![\w.])v?{re.escape(version)}(?![\w]|\.\d)", line) is not None


def _is_heading_of_a_release(line: str) -> bool:
    return len(line) <= 100 and _RELEASE_HEADING.match(line) is not None


def release_section(notes: str, new_version: str) -> str:
    """The section of a release-notes text about `new_version`: the lines after the heading
    that names it, up to the next release's heading, without underlines or a date line."""
    lines = notes.splitlines()
    start = next((i for i, line in enumerate(lines) if _heads(line, lines[i + 1 : i + 2], new_version)), None)
    if start is None:
        return ""
    section: list[str] = []
    for line in lines[start + 1 :]:
        if _is_heading_of_a_release(line):
            break
        section.append(line)
    while section and (
        not section[0].strip() or _HEADER_UNDERLINE.match(section[0]) or _DATE_LINE.match(section[0]) or _FIELD_LINE.match(section[0])
    ):
        section.pop(0)
    while section and (not section[-1].strip() or _HEADER_UNDERLINE.match(section[-1]) or _ANCHOR_LINE.match(section[-1])):
        section.pop()
    return "\n".join(section)


def _heads(line: str, following: list[str], version: str) -> bool:
    """Is `line` the heading of `version`'s section (`## 1.2.3`, `1.2.3 (date)` over an
    underline, `Version 1.2.3`, `[v1.2.3](link) - date`), not a sentence that names it?"""
    if not _names(line, version) or len(line) > 200:
        return False
    start = line.strip()
    underlined = bool(following) and _HEADER_UNDERLINE.match(following[0]) is not None
    return underlined or start.startswith(("#", "[", "**", "v", "V", "Release", "release")) or start[:1].isdigit()


def _release_notes(new: Path, notes_paths: list[str], new_version: str) -> str:
    """What the newer release's notes say about it: its section of the first notes file that
    has one."""
    for path in notes_paths:
        try:
            section = release_section((new / path).read_text(encoding="utf-8"), new_version)
        except (OSError, UnicodeDecodeError):
            continue
        if section:
            return section
    # Notes that do not name the release (an "Unreleased" section, a late entry for an older
    # release) are not taken for its notes.
    return ""


def _readme_notes(readme_diff: str, new_version: str) -> str:
    """The README lines the newer release added that name it (`- 1.2.3 Fixed ...`), without
    the version."""
    entries = []
    for line in readme_diff.splitlines():
        if line.startswith("+") and not line.startswith("+++") and new_version in line:
            entry = re.sub(rf"^[\s*+-]*v?{re.escape(new_version)}\b[\s:,-]*", "", line[1:])
            if entry.strip():
                entries.append(entry.strip())
    return "\n".join(entries)
