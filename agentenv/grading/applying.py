"""Applying the agent's patch in the grading runtime, and checking it did only that.

The patch reaches this point parsed and sanitised (`guards.sanitize_patch`): each file section
re-serialised without any text after its last hunk. It is applied the way SWE-bench applies
patches (git apply, then with 3-way merges, then with rejects, then `patch --fuzz`). Then the
working tree must show changes to the paths the patch names and to nothing else, and git's
own files (config, HEAD, hooks, info) must be untouched: a patch program that was made to
write anything more is evidence of tampering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word

# Tried in order; the first that applies the whole patch wins (SWE-bench's chain, plus 3-way).
APPLY_METHODS: list[tuple[str, str]] = [
    ("git apply", "git apply --verbose --whitespace=nowarn {patch}"),
    ("git apply --3way", "git apply --verbose --3way --whitespace=nowarn {patch}"),
    ("git apply --reject", "git apply --verbose --reject --whitespace=nowarn {patch}"),
    # No .orig backups: GNU patch writes them beside every file it fuzzes.
    ("patch --fuzz", "patch --batch --forward --fuzz=5 --no-backup-if-mismatch -p1 -i {patch}"),
]
# What `git status` and git's own files look like; compared before and after applying.
_STATE = (
    "git status --porcelain=v1 -z --untracked-files=all --ignored --no-renames; printf '\\n--\\n'; "
    "find .git/config .git/HEAD .git/info .git/hooks -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum"
)


@dataclass
class Applied:
    method: str | None  # None: no method applied the patch
    log: str
    # Evidence that applying did more than the patch says (paths it does not name, git's files).
    evidence: list[str] = field(default_factory=list)


def _state(runtime: Runtime) -> tuple[dict[str, str], str]:
    result = runtime.run(f"cd {shell_word(runtime.repo_dir)} && {_STATE}", timeout=120)
    status, _, git_files = result.output.partition("\n--\n")
    entries: dict[str, str] = {}
    for entry in status.split("\0"):
        if len(entry) > 3:
            entries[entry[3:]] = entry[:2]
    return entries, git_files


def apply_patch(runtime: Runtime, patch: str, workdir: str, named: set[str]) -> Applied:
    """Apply with the first method that works; `named` are the paths the patch names."""
    path = f"{workdir}/model.patch"
    runtime.write_file(path, patch.encode("utf-8", errors="surrogateescape"))
    before, git_before = _state(runtime)
    repo = shell_word(runtime.repo_dir)
    attempts = []
    for name, template in APPLY_METHODS:
        result = runtime.run(f"cd {repo} && " + template.format(patch=shell_word(path)), timeout=120)
        attempts.append(f"$ {name}\n{result.output.strip()}\n(exit code {result.exit_code})")
        if result.exit_code == 0:
            applied = Applied(name, "\n".join(attempts))
            after, git_after = _state(runtime)
            stray = sorted(p for p, code in after.items() if before.get(p) != code and not _is_named(p, named))
            if stray:
                shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
                applied.evidence.append(f"applying the patch ({name}) changed paths it does not name: {shown}")
            if git_after != git_before:
                applied.evidence.append(f"applying the patch ({name}) changed git's own files (.git/)")
            return applied
        # Leave a clean tree for the next method: a failed attempt may have half-applied.
        runtime.run(f"cd {repo} && git checkout -q -- . && git clean -fdq", timeout=120)
    return Applied(None, "\n".join(attempts))


def _as_shown(path: str) -> str:
    """A path as the runtime's text output shows it (bytes that are not UTF-8 as U+FFFD)."""
    return path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _is_named(path: str, named: set[str]) -> bool:
    # git status lists an untracked folder's files one by one (-uall); a folder entry ends in "/".
    shown = {_as_shown(n) for n in named}
    folder = path.rstrip("/")
    return path in shown or folder in shown or any(n.startswith(folder + "/") for n in shown)
