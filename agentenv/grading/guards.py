"""What of an agent's patch may reach the grading run, and what may not.

A patch is the only thing that crosses from the agent's container to the grading container.
These rules drop the parts of it that could change how the tests run or are reported rather
than what they test:

- test files (the hidden test patch's files, and anything that looks like a test, conftest.py
  included): the hidden tests decide, not the agent's versions of them;
- interpreter start-up hooks (sitecustomize.py, usercustomize.py, *.pth): they run before any
  test and could rewrite pytest;
- package metadata (`*.dist-info/`, `*.egg-info/`): its entry points can declare pytest plugins;
- (in `shadowing`) files that would shadow a module the test process imports;
- paths outside the repository (absolute, or with a `..` part) and symlinks that point out of
  it;
- changes to pytest's own configuration (checked after applying, in `config_changes`), which
  could add plugins, deselect tests or point pytest elsewhere.
"""

from __future__ import annotations

import configparser
import posixpath
import re
import tomllib
from collections.abc import Iterable

from pydantic import BaseModel

from agentenv.diffs import FilePatch, files_in_patch, is_test_path, join_patch, split_patch, without_trailing_text

STARTUP_HOOKS = {"sitecustomize.py", "usercustomize.py"}
# Files pytest reads its configuration from, and the sections it reads in each.
PYTEST_CONFIG_FILES = {
    "pytest.ini": ("pytest",),
    ".pytest.ini": ("pytest",),
    "tox.ini": ("pytest",),
    "setup.cfg": ("tool:pytest",),
    "pyproject.toml": ("tool.pytest.ini_options", "tool.pytest"),
}


# Names of pytest's machinery: code under test has no business with them, unless the
# repository is pytest or a plugin of it (then its own code already uses them).
_MACHINERY_NAMES = (
    "_pytest", "pytest_runtest_[A-Za-z_]+", "pytest_collection[A-Za-z_]*", "pytest_terminal_summary",
    "pytest_sessionfinish", "pytest_configure", "pytest_plugins", "pluginmanager", "hookimpl",
    "hookwrapper", "TerminalReporter", "PYTEST_ADDOPTS", "AGENTENV_RESULTS", "agentenv_results",
)  # fmt: skip
# One POSIX extended regex (for git grep -w in the container) and its Python twin.
MACHINERY_ERE = "(" + "|".join(_MACHINERY_NAMES) + ")"
PYTEST_MACHINERY = re.compile(r"\b" + MACHINERY_ERE + r"\b")
# Where a repository's own tests live (as `is_test_path` decides: tests/ anywhere, test/ and
# testing/ at the top or under src/): they may use pytest's machinery freely.
TEST_PATHSPECS = (
    ":(exclude,glob)**/tests/**", ":(exclude,glob)test/**", ":(exclude,glob)testing/**",
    ":(exclude,glob)src/test/**", ":(exclude,glob)src/testing/**",
    ":(exclude,glob)**/test_*.py", ":(exclude,glob)**/*_test.py", ":(exclude,glob)**/conftest.py",
)  # fmt: skip


def machinery_references(patch: str) -> list[str]:
    """Added lines of the patch that name pytest's machinery, as `path: line`."""
    found = []
    for section in split_patch(patch):
        for line in section.text.splitlines():
            if line.startswith("+") and not line.startswith("+++") and PYTEST_MACHINERY.search(line):
                found.append(f"{section.path}: {line[1:].strip()[:120]}")
    return found


class DroppedFile(BaseModel):
    path: str
    reason: str


# x.so, x.cpython-311-x86_64-linux-gnu.so, x.abi3.so, x.pyd, libx.so.1: binary modules.
_COMPILED_MODULE = re.compile(r"\.(so|pyd)(\.[0-9.]+)?$")


def _escapes_repo(path: str) -> bool:
    return path.startswith("/") or ".." in path.replace("\\", "/").split("/")


def _symlink_target_escapes(section: FilePatch) -> bool:
    """A new or changed symlink (mode 120000) whose target is absolute or climbs out, or
    cannot be read (a target that is not UTF-8 comes as a binary diff)."""
    if "120000" not in section.text.split("\n@@", 1)[0]:
        return False
    if "\nGIT binary patch\n" in section.text:
        return True
    targets = [line[1:] for line in section.text.splitlines() if line.startswith("+") and not line.startswith("+++")]
    for target in targets:
        normalized = posixpath.normpath(posixpath.join(posixpath.dirname(section.path), target))
        if target.startswith("/") or normalized.startswith(".."):
            return True
    return False


def drop_reason(section: FilePatch, hidden_test_files: set[str]) -> str | None:
    """Why this file's change may not be graded, or None if it may."""
    paths = [p for p in (section.old_path, section.new_path) if p is not None]
    for path in paths:
        if _escapes_repo(path):
            return "outside the repository"
        if path in hidden_test_files:
            return "a file of the hidden tests"
        if is_test_path(path):
            return "a test file"
        name = posixpath.basename(path)
        parts = [part.lower() for part in path.split("/")]
        if ".git" in parts[:-1] or name.lower() in (".git", ".gitattributes", ".gitmodules"):
            # git's configuration (filters run by the grader's own git) and attributes.
            return "git's own files"
        if name in STARTUP_HOOKS or name.lower().endswith(".pth"):
            return "an interpreter start-up hook"
        if any(part.endswith((".dist-info", ".egg-info")) for part in parts[:-1]) or name.lower().endswith(".egg-link"):
            # pytest loads the plugins that installed packages declare (entry points): a
            # package's metadata in an import root would declare one from the patch's code.
            # importlib.metadata matches these endings in any case.
            return "package metadata (it can declare pytest plugins)"
        if "__pycache__" in parts[:-1] or name.lower().endswith((".pyc", ".pyo")):
            # An unchecked-hash .pyc runs instead of its unchanged source, and claims to be it.
            return "compiled bytecode (it runs instead of the source beside it)"
        if _COMPILED_MODULE.search(name.lower()):
            return "a compiled module (it is imported before a source of the same name)"
    if _symlink_target_escapes(section):
        return "a symlink that points outside the repository"
    return None


def sanitize_patch(patch: str, hidden_test_files: Iterable[str]) -> tuple[str, list[DroppedFile]]:
    """The patch without the file changes that may not be graded, and what was dropped; each
    kept section without text after its last hunk (only what was parsed is ever applied)."""
    hidden = set(hidden_test_files)
    kept: list[FilePatch] = []
    dropped: list[DroppedFile] = []
    for section in split_patch(patch):
        reason = drop_reason(section, hidden)
        if reason is None:
            kept.append(without_trailing_text(section))
        else:
            dropped.append(DroppedFile(path=section.path, reason=reason))
    return join_patch(kept), dropped


def pytest_config_candidates(patch: str) -> list[str]:
    """Files of the patch that pytest may read its configuration from."""
    return [path for path in files_in_patch(patch) if posixpath.basename(path) in PYTEST_CONFIG_FILES]


def pytest_settings(path: str, text: str | None) -> dict[str, object] | None:
    """The pytest sections of a config file, as data; None when the file has none."""
    if text is None:
        return None
    sections = PYTEST_CONFIG_FILES[posixpath.basename(path)]
    if path.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return {"unparsable": text}
        found: dict[str, object] = {}
        for dotted in sections:
            node: object = data
            for key in dotted.split("."):
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                found[dotted] = node
        return found or None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return {"unparsable": text}
    found = {name: dict(parser.items(name)) for name in sections if parser.has_section(name)}
    return found or None


def changes_pytest_config(path: str, base_text: str | None, patched_text: str | None) -> bool:
    if posixpath.basename(path) in ("pytest.ini", ".pytest.ini") and (base_text is None) != (patched_text is None):
        # pytest takes these files first even when they are empty: creating one hides the
        # repository's configuration (filterwarnings = error, markers, ...) in pyproject.toml.
        return True
    return pytest_settings(path, base_text) != pytest_settings(path, patched_text)
