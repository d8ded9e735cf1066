"""Finding things: find_file, search_dir, search_file, find_symbol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentenv.aci.errors import CommandError
from agentenv.aci.lint import SOURCE_SUFFIXES
from agentenv.aci.symbols import find_definitions
from agentenv.aci.viewer import split_lines
from agentenv.runtime.shell import shell_word

if TYPE_CHECKING:
    from agentenv.aci.interface import ACI

# find_symbol reads at most this many candidate files (those that mention the name).
MAX_SYMBOL_FILES = 300


def _single_line(term: str) -> str:
    if "\n" in term:
        raise CommandError("search_term must be a single line.")
    return term


def _search_root(aci: ACI, folder: str | None) -> str:
    resolved = aci.resolve(folder or ".")
    if not aci.exists(resolved, "-d"):
        raise CommandError(f"Directory {resolved} not found.")
    return resolved


def _listed(aci: ACI, script: str, info: dict[str, Any]) -> list[str]:
    """The lines a search prints, run in the plumbing shell; names that are not UTF-8 keep
    their bytes (surrogate escapes), so that they can be opened as they are."""
    result = aci.plumb(script)
    info["exit_code"] = result.exit_code
    if result.timed_out:
        raise CommandError(
            f"The search did not finish within {aci.config.command_timeout:.0f}s; "
            "narrow it to a folder."
        )
    text = result.output.decode("utf-8", errors="surrogateescape")
    return [line for line in text.split("\n") if line]


def cmd_find_file(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    name = args["file_name"]
    folder = _search_root(aci, args.get("dir"))
    cap = aci.config.max_search_results
    matches = _listed(
        aci,
        f"find {shell_word(folder)} -name .git -prune -o -type f -name {shell_word(name)} "
        f"-print 2>/dev/null | head -n {cap + 1}",
        info,
    )
    if not matches:
        return f'No files named "{name}" found in {folder}.'
    if len(matches) > cap:
        return f'More than {cap} files named "{name}" in {folder}; narrow the search (a folder or a more specific name).'
    return f'Found {len(matches)} files named "{name}" in {folder}:\n' + "\n".join(matches)


def cmd_search_dir(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    term = _single_line(args["search_term"])
    folder = _search_root(aci, args.get("dir"))
    cap = aci.config.max_search_results
    lines = _listed(
        aci,
        f"grep -rIcF --exclude-dir=.git -e {shell_word(term)} -- {shell_word(folder)} 2>/dev/null "
        f"| grep -v ':0$' | head -n {cap + 1}",
        info,
    )
    rows = []
    for line in lines:
        path, _, count = line.rpartition(":")
        if path and count.isdigit():
            rows.append((path, int(count)))
    if not rows:
        return f'No matches for "{term}" in {folder}.'
    if len(rows) > cap:
        return f'"{term}" occurs in more than {cap} files under {folder}; narrow the search.'
    total = sum(count for _, count in rows)
    listing = "\n".join(f"{path} ({count} matches)" for path, count in rows)
    return f'Found {total} matches for "{term}" in {len(rows)} files under {folder}:\n{listing}'


def cmd_search_file(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    term = _single_line(args["search_term"])
    if args.get("file"):
        path = aci.resolve(args["file"])
    elif aci.viewer.path:
        path = aci.viewer.path
    else:
        raise CommandError("No file is open; name one: search_file <search_term> <file>")
    lines = split_lines(aci.read_text(path))
    hits = [(number, text) for number, text in enumerate(lines, start=1) if term in text]
    if not hits:
        return f'No matches for "{term}" in {path}.'
    cap = aci.config.max_search_results
    if len(hits) > cap:
        return f'"{term}" occurs on {len(hits)} lines of {path} (more than {cap}); narrow the search.'
    listing = "\n".join(f"Line {number}:{text}" for number, text in hits)
    return f'Found {len(hits)} matches for "{term}" in {path}:\n{listing}'


def cmd_find_symbol(aci: ACI, args: dict[str, Any], info: dict[str, Any]) -> str:
    name = args["name"].strip().replace("::", ".")
    if not name or any(c.isspace() for c in name):
        raise CommandError("name must be a symbol name such as merge or IntervalSet.add (no spaces).")
    folder = _search_root(aci, args.get("dir"))
    bare = name.rsplit(".", 1)[-1]
    includes = " ".join(f"--include={shell_word('*' + suffix)}" for suffix in sorted(SOURCE_SUFFIXES))
    # grep narrows the repo to the files that mention the name; tree-sitter does the rest.
    candidates = _listed(
        aci,
        f"grep -rlwF --exclude-dir=.git {includes} -e {shell_word(bare)} -- {shell_word(folder)} 2>/dev/null "
        f"| head -n {MAX_SYMBOL_FILES + 1}",
        info,
    )
    found: list[str] = []
    for path in candidates[:MAX_SYMBOL_FILES]:
        try:
            text = aci.read_text(path)
        except CommandError:
            continue
        for symbol in find_definitions(name, path, text):
            found.append(f"{path}:{symbol.start_line}-{symbol.end_line}  {symbol.kind} {symbol.qualified_name}")
    if not found:
        return f'No definition of "{name}" found under {folder}.'
    cap = aci.config.max_search_results
    note = ""
    if len(candidates) > MAX_SYMBOL_FILES:
        note = f"\n(Only the first {MAX_SYMBOL_FILES} files that mention it were read; narrow with a folder.)"
    if len(found) > cap:
        return f'More than {cap} definitions of "{name}" under {folder}; narrow the search.{note}'
    return f'Found {len(found)} definitions of "{name}" under {folder}:\n' + "\n".join(found) + note


COMMANDS = {
    "find_file": cmd_find_file,
    "search_dir": cmd_search_dir,
    "search_file": cmd_search_file,
    "find_symbol": cmd_find_symbol,
}
