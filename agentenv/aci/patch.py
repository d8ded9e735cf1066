"""The working tree's changes against the base commit: a git patch that is byte-exact.

What a grader does with the patch is `git apply` on a fresh copy of the base. So the patch
is made with the configuration that copy has and nothing else:

- in the plumbing shell (never the agent's: see `runtime.plumbing`), with no system or user
  git configuration;
- against a git directory of agentenv's own in the runtime's scratch folder, whose objects
  come from the repository's (`objects/info/alternates`) but whose index, config, attributes
  and HEAD (the base commit, read when the episode started) are ours: the agent's `.git/config`
  (filters, `core.autocrlf`, `diff.noprefix`), `.git/info/attributes`, index and hooks do not
  count, and the agent's repository is left as it was (no `git add` in it). The repository's
  tracked `.gitattributes` do count, as they will for `git apply`. Untracked files are found
  with the ignore rules the repository had at the start (its `.git/info/exclude`, which lists
  caches and build output) and its tracked `.gitignore` files;
- with `--binary --full-index --no-renames`, default path quoting (names that are not ASCII
  are C-quoted) and no textconv or external diff;
- a file section whose bytes are not UTF-8 (a Latin-1 source, binary data without a NUL) is
  made again as a git binary diff, so the patch is valid UTF-8 text and still gives the exact
  bytes back;
- the patch is written to a file and read whole (a large file is read without the shell's
  8 MiB output cap); its size is checked against the file's. A patch that cannot be made or
  read whole is an error, never a shorter patch.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentenv.diffs import FilePatch, join_patch, split_patch
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import encode_for_printf, shell_word

PATCH_TIMEOUT_S = 600.0
_GIT_CONFIG = (
    "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
    "\tsymlinks = true\n\tignorecase = false\n\tquotepath = true\n\tautocrlf = false\n"
    # The objects `git add` writes live only until the patch is read: speed over size.
    "\tlooseCompression = 0\n"
)
_DIFF_OPTIONS = (
    "diff --cached --binary --full-index --no-color --no-ext-diff --no-textconv --no-renames "
    "--src-prefix=a/ --dst-prefix=b/"
)


class PatchError(Exception):
    """The patch could not be made, or not whole; the message says why."""


@dataclass(frozen=True)
class PatchSource:
    """What a patch is made against, taken from the repository before the agent acts."""

    repo_dir: str
    base_commit: str | None
    # The repository's .git/info/exclude at the start (ignore rules for untracked files).
    exclude: bytes

    @classmethod
    def snapshot(cls, runtime: Runtime) -> PatchSource:
        repo = runtime.repo_dir
        head = runtime.run_plumbing(
            f"git -c safe.directory='*' -C {shell_word(repo)} "
            "rev-parse --verify -q 'HEAD^{commit}'",
            timeout=60,
        )
        base = head.output.decode("ascii", errors="replace").strip()
        if head.exit_code != 0:
            base = ""
        try:
            exclude = runtime.read_file(f"{repo}/.git/info/exclude", max_bytes=1 << 20)
        except OSError:
            exclude = b""
        return cls(repo_dir=repo, base_commit=base or None, exclude=exclude)


def collect_patch(runtime: Runtime, source: PatchSource, timeout: float = PATCH_TIMEOUT_S) -> str:
    """The changes of the working tree against `source.base_commit`, as git patch text."""
    if source.base_commit is None:
        raise PatchError(
            f"{source.repo_dir} had no git commit when the episode started: no base to diff against"
        )
    git_dir = f"{runtime.scratch_dir}/patch-git"
    try:
        patch = _diff(runtime, source, git_dir, attributes=b"", pathspecs=[], timeout=timeout)
        if _is_utf8(patch):
            return patch
        sections = split_patch(patch)
        not_utf8 = [s for s in sections if not _is_utf8(s.text)]
        sections = _as_binary(runtime, source, git_dir, sections, not_utf8, timeout)
    finally:
        runtime.run_plumbing(f"rm -rf -- {shell_word(git_dir)}", timeout=60)
    text = join_patch(sections)
    if not _is_utf8(text):
        raise PatchError("the patch is not UTF-8 even with binary diffs; it was not submitted")
    return text


def _as_binary(
    runtime: Runtime,
    source: PatchSource,
    git_dir: str,
    sections: list[FilePatch],
    not_utf8: list[FilePatch],
    timeout: float,
) -> list[FilePatch]:
    """`sections`, with those that are not UTF-8 made again as binary diffs."""
    sides = (path for s in not_utf8 for path in (s.old_path, s.new_path) if path is not None)
    paths = list(dict.fromkeys(sides))
    binary = split_patch(
        _diff(runtime, source, git_dir, attributes=b"* -diff\n", pathspecs=paths, timeout=timeout)
    )
    replacements = {(s.old_path, s.new_path): s for s in binary}
    redo = {id(s) for s in not_utf8}
    result = []
    for section in sections:
        if id(section) in redo:
            replacement = replacements.get((section.old_path, section.new_path))
            if replacement is None:
                raise PatchError(f"git made no binary diff of {section.path!r}, which is not UTF-8")
            section = replacement
        result.append(section)
    return result


def _diff(
    runtime: Runtime,
    source: PatchSource,
    git_dir: str,
    *,
    attributes: bytes,
    pathspecs: list[str],
    timeout: float,
) -> str:
    """Run git in agentenv's own git directory; the patch text (surrogate-escaped bytes)."""
    g, w = shell_word(git_dir), shell_word(source.repo_dir)
    base = shell_word(source.base_commit or "")
    objects = shell_word(source.repo_dir + "/.git/objects")
    git = f"git -c safe.directory='*' -C {w} --git-dir={g} --work-tree={w}"
    output = f"{git_dir}/patch"
    specs = " ".join(shell_word(":(literal)" + path) for path in pathspecs)
    setup = (
        f"rm -rf -- {g} && mkdir -p -- {g}/objects/info {g}/refs {g}/info && "
        f"printf '%s\\n' {objects} >{g}/objects/info/alternates && "
        f"printf '%s\\n' {base} >{g}/HEAD && "
        f"printf '%b' '{encode_for_printf(_GIT_CONFIG.encode())}' >{g}/config && "
        f"printf '%b' '{encode_for_printf(source.exclude)}' >{g}/info/exclude && "
        f"{git} read-tree {base} && {git} add -A && "
        if not pathspecs
        else ""
    )
    script = (
        f"{setup}printf '%b' '{encode_for_printf(attributes)}' >{g}/info/attributes && "
        f"{git} {_DIFF_OPTIONS} {base} -- {specs} >{shell_word(output)} && "
        f"wc -c <{shell_word(output)}"
    )
    result = runtime.run_plumbing(script, timeout=timeout)
    detail = result.output.decode("utf-8", errors="replace").strip()
    if result.timed_out:
        raise PatchError(f"git did not finish within {timeout:.0f}s")
    if result.exit_code != 0:
        raise PatchError(f"git failed (exit code {result.exit_code}): {detail[-2000:]}")
    try:
        data = runtime.read_file(output)
    except OSError as exc:
        raise PatchError(f"the patch file could not be read whole: {exc}") from None
    if not detail.isdigit() or int(detail) != len(data):
        raise PatchError(f"the patch file holds {detail} bytes but {len(data)} were read")
    return data.decode("utf-8", errors="surrogateescape")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
