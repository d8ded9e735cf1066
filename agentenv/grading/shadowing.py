"""Files a patch adds that would shadow installed or standard modules in the test process.

`python -m pytest` puts the repository's root first on `sys.path`, an editable install may add
`src/`, and pytest inserts the folders of test modules: a new `pytest.py`, `_pytest/`,
`pluggy/`, `json.py`... in one of those folders is imported instead of the real module, by
pytest itself. Such files are dropped before the patch is applied, and listed in the report.
A probe in the grading runtime (before the patch) says which folders are import roots and
which top-level names the interpreter already has.
"""

from __future__ import annotations

import json
import posixpath

from agentenv.diffs import FilePatch
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word

# Run with the test command's interpreter, isolated (-I: no cwd, no PYTHONPATH on sys.path).
_PROBE = r"""
import json, os, pkgutil, sys
repo = os.path.realpath(sys.argv[1])
names = set(sys.builtin_module_names) | set(getattr(sys, "stdlib_module_names", ()))
roots = {"."}
for entry in sys.path:
    path = os.path.realpath(entry or ".")
    if path == repo or path.startswith(repo + os.sep):
        roots.add(os.path.relpath(path, repo))
    elif os.path.isdir(path):
        names.update(module.name for module in pkgutil.iter_modules([path]))
for test_file in sys.argv[2:]:
    folder = os.path.dirname(os.path.join(repo, test_file))
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder = os.path.dirname(folder)  # pytest's rootdir insertion: above the packages
    if folder == repo or folder.startswith(repo + os.sep):
        roots.add(os.path.relpath(folder, repo))
print(json.dumps({"names": sorted(names), "roots": sorted(roots)}))
"""


def new_paths(sections: list[FilePatch]) -> list[str]:
    """Paths the patch creates (new files and the targets of renames and copies)."""
    return [s.new_path for s in sections if s.new_path is not None and s.new_path != s.old_path]


def _top_level(path: str, root: str) -> tuple[str, str] | None:
    """(module name, its top entry) when `path` is at the top of `root`: `x.py`, `x/...`."""
    prefix = "" if root == "." else root.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    first, _, rest = path[len(prefix) :].partition("/")
    if rest:  # a package (or namespace) folder
        return (first, prefix + first) if first.isidentifier() else None
    name = first.split(".", 1)[0]  # x.py, x.cpython-311-x86_64-linux-gnu.so, x.pyc
    if first.endswith((".py", ".pyc", ".so", ".pyd")) and name.isidentifier():
        return name, prefix + first
    return None


def shadowing_files(runtime: Runtime, sections: list[FilePatch], test_files: list[str]) -> dict[str, str]:
    """{path: reason} for the created files that would shadow a module the interpreter has.

    Call it before the patch is applied: a top entry the repository already has is its own.
    """
    created = new_paths(sections)
    if not created:
        return {}
    repo = runtime.repo_dir
    probe = runtime.run(
        f"cd / && \"$(command -v python || command -v python3)\" -I -c {shell_word(_PROBE)} "
        f"{shell_word(repo)} {' '.join(shell_word(t) for t in test_files)}",
        timeout=120,
    )
    try:
        found = json.loads(probe.output.strip().splitlines()[-1])
        names, roots = set(found["names"]), list(found["roots"])
    except (ValueError, IndexError, KeyError):
        # No Python to ask: the repository root is a root, and pytest's own names are known.
        names, roots = {"pytest", "_pytest", "pluggy", "py"}, ["."]
    shadows: dict[str, str] = {}
    for path in created:
        for root in roots:
            top = _top_level(path, root)
            if top is None or top[0] not in names:
                continue
            if runtime.run(f"test -e {shell_word(posixpath.join(repo, top[1]))}", timeout=30).exit_code == 0:
                continue  # the repository has it already: its own module, not a shadow
            shadows[path] = f"shadows the module {top[0]!r} of the test process's interpreter"
            break
    return shadows
