"""diffs.py against real `git diff` output from repositories built in tmp_path."""

from __future__ import annotations

import difflib
import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentenv.diffs import (
    FilePatch,
    PatchApplyError,
    PatchFormatError,
    apply_hunks,
    drop_files,
    files_in_patch,
    is_test_path,
    join_patch,
    parse_hunks,
    split_patch,
)

# The user's and the system's git settings (autocrlf, diff.noprefix, ...) stay out.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env=GIT_ENV,
        input=None if stdin is None else stdin.encode("utf-8", "surrogateescape"),
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8", "surrogateescape")


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


KEEP_OLD = "".join(f"line {i}\n" for i in range(1, 31))
KEEP_NEW = KEEP_OLD.replace("line 3\n", "line three\n").replace(
    "line 25\n", "line 25\nline 25.5\n"
).replace("line 14\n", "")

BASE_FILES: dict[str, str] = {
    "keep.py": KEEP_OLD,
    "del.txt": "x\ny\n",
    "ren.py": "one\ntwo\nthree\nfour\nfive\nsix\nseven\n",
    "same.txt": "unchanged content\nover lines\n",
    "nonl.txt": "first\nno nl",
    "add_nl.txt": "a\nb",
    "drop_nl.txt": "a\nb\n",
    "crlf.txt": "one\r\ntwo\x0cfeed\r\nthree\r\n",
    "queries.sql": "select 1;\n-- a comment\n--- three dashes\nselect 2;\n",
    "sp ace.txt": "q\n",
    "tést.py": "u\n",
    "run.sh": "#!/bin/sh\necho hi\n",
    "tests/test_mod.py": "def test_a():\n    assert True\n",
    "tests/fixtures/data.json": "{}\n",
}
NEW_FILES: dict[str, str | None] = {  # None: deleted
    "keep.py": KEEP_NEW,
    "del.txt": None,
    "moved.py": "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\n",
    "ren.py": None,
    "same2.txt": BASE_FILES["same.txt"],
    "same.txt": None,
    "nonl.txt": "first\nstill no nl",
    "add_nl.txt": "a\nb\n",
    "drop_nl.txt": "a\nb",
    "crlf.txt": "one\r\ntwo\x0cfeed changed\r\nthree\r\n",
    "queries.sql": "select 1;\nselect 2;\n-- added\n",
    "sp ace.txt": "q\nr\n",
    "tést.py": "u\nv\n",
    "new.py": "new\n",
    "empty.txt": "",
    "tests/test_mod.py": "def test_a():\n    assert False\n",
    "tests/fixtures/data.json": '{"a": 1}\n',
    "src/conftest.py": "import pytest\n",
}
BINARY = b"\x00\x01\x02binary\xff"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose index holds every kind of change against its one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    for name, text in BASE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode())
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    for name, text in NEW_FILES.items():
        path = root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode())
    (root / "img.bin").write_bytes(BINARY)
    (root / "run.sh").chmod((root / "run.sh").stat().st_mode | stat.S_IXUSR)
    git(root, "add", "-A")
    return root


def reset_to_base(repo: Path) -> None:
    git(repo, "reset", "-q", "--hard", "HEAD")
    git(repo, "clean", "-qfdx")


def git_apply_check(repo: Path, patch: str) -> None:
    (repo.parent / "p.diff").write_bytes(patch.encode("utf-8", "surrogateescape"))
    git(repo, "apply", "--check", str(repo.parent / "p.diff"))


EXPECTED_PATHS = {
    ("add_nl.txt", "add_nl.txt"),
    ("crlf.txt", "crlf.txt"),
    ("del.txt", None),
    (None, "empty.txt"),
    (None, "img.bin"),
    ("keep.py", "keep.py"),
    ("nonl.txt", "nonl.txt"),
    ("drop_nl.txt", "drop_nl.txt"),
    (None, "new.py"),
    ("queries.sql", "queries.sql"),
    ("ren.py", "moved.py"),
    ("run.sh", "run.sh"),
    ("same.txt", "same2.txt"),
    ("sp ace.txt", "sp ace.txt"),
    (None, "src/conftest.py"),
    ("tests/fixtures/data.json", "tests/fixtures/data.json"),
    ("tests/test_mod.py", "tests/test_mod.py"),
    ("tést.py", "tést.py"),
}


@pytest.mark.parametrize("flags", [[], ["--binary"], ["-U0"], ["--no-renames"]])
def test_split_then_join_gives_the_patch_back_byte_for_byte(
    repo: Path, flags: list[str]
) -> None:
    patch = git(repo, "diff", "--cached", "-M", *flags)
    files = split_patch(patch)
    assert join_patch(files) == patch
    assert all(file.text.startswith("diff --git ") for file in files)


def test_split_reads_the_paths_of_every_kind_of_change(repo: Path) -> None:
    files = split_patch(git(repo, "diff", "--cached", "-M", "--binary"))
    assert {(f.old_path, f.new_path) for f in files} == EXPECTED_PATHS
    by_path = {f.path: f for f in files}
    assert by_path["del.txt"].path == "del.txt"  # a deleted file is named by its old path
    assert "GIT binary patch" in by_path["img.bin"].text
    assert parse_hunks(by_path["img.bin"]) == []
    assert parse_hunks(by_path["run.sh"]) == []  # mode only
    assert parse_hunks(by_path["same2.txt"]) == []  # a pure rename


def test_files_in_patch_names_both_sides_of_a_rename_once_each(repo: Path) -> None:
    paths = files_in_patch(git(repo, "diff", "--cached", "-M"))
    assert len(paths) == len(set(paths))
    assert {"ren.py", "moved.py", "same.txt", "same2.txt", "del.txt", "img.bin"} <= set(paths)
    assert paths.index("ren.py") == paths.index("moved.py") - 1


@pytest.mark.parametrize("flags", [[], ["--binary"]])
def test_drop_files_output_is_a_patch_git_applies(repo: Path, flags: list[str]) -> None:
    patch = git(repo, "diff", "--cached", "-M", *flags)
    kept, dropped = drop_files(patch, is_test_path)
    assert set(dropped) == {"tests/test_mod.py", "tests/fixtures/data.json", "src/conftest.py"}
    assert set(files_in_patch(kept)) == set(files_in_patch(patch)) - set(dropped)
    if "--binary" not in flags:
        kept, _ = drop_files(kept, lambda path: path == "img.bin")  # git cannot apply it
    reset_to_base(repo)
    git_apply_check(repo, kept)
    git(repo, "apply", str(repo.parent / "p.diff"))
    assert read_text(repo / "keep.py") == KEEP_NEW
    assert read_text(repo / "tests/test_mod.py") == BASE_FILES["tests/test_mod.py"]


def test_dropping_every_file_leaves_an_empty_patch(repo: Path) -> None:
    patch = git(repo, "diff", "--cached")
    kept, dropped = drop_files(patch, lambda path: True)
    assert kept == ""
    assert set(dropped) == set(files_in_patch(patch))


@pytest.mark.parametrize("flags", [[], ["-U0"], ["-U1"], ["--no-renames"]])
def test_parse_hunks_rebuilds_each_new_file_from_the_old_one(
    repo: Path, flags: list[str]
) -> None:
    patch = git(repo, "diff", "--cached", "-M", *flags)
    checked = 0
    for file in split_patch(patch):
        if file.path == "img.bin":
            continue
        old = BASE_FILES[file.old_path] if file.old_path else ""
        new = NEW_FILES.get(file.new_path, BASE_FILES.get(file.new_path)) if file.new_path else ""
        assert apply_hunks(old, parse_hunks(file)) == new, file.path
        checked += 1
    assert checked >= 15


def test_hunk_lines_fold_the_no_newline_marker_into_the_line_before(repo: Path) -> None:
    files = {f.path: f for f in split_patch(git(repo, "diff", "--cached"))}
    [nonl] = parse_hunks(files["nonl.txt"])
    assert nonl.lines == [" first\n", "-no nl", "+still no nl"]
    [add_nl] = parse_hunks(files["add_nl.txt"])
    assert add_nl.lines == [" a\n", "-b", "+b\n"]
    assert (add_nl.old_text, add_nl.new_text) == ("a\nb", "a\nb\n")
    [crlf] = parse_hunks(files["crlf.txt"])
    assert "+two\x0cfeed changed\r\n" in crlf.lines  # only "\n" ends a line


def test_hunk_counts_default_to_one_and_zero_count_inserts_after_the_line() -> None:
    patch = (
        "--- a/f.txt\n+++ b/f.txt\n"
        "@@ -2 +2 @@\n-b\n+B\n"
        "@@ -3,0 +4,2 @@\n+c1\n+c2\n"
    )
    [file] = split_patch(patch)
    assert (file.old_path, file.new_path) == ("f.txt", "f.txt")
    first, second = parse_hunks(file)
    assert (first.old_start, first.old_count, first.new_start, first.new_count) == (2, 1, 2, 1)
    assert (second.old_count, second.new_count) == (0, 2)
    assert apply_hunks("a\nb\nc\nd\n", [first, second]) == "a\nB\nc\nc1\nc2\nd\n"


def test_an_empty_line_in_a_hunk_is_a_context_line() -> None:
    patch = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n"
    [hunk] = parse_hunks(split_patch(patch)[0])
    assert hunk.lines == [" a\n", " \n", "-c\n", "+C\n"]
    assert apply_hunks("a\n\nc\n", [hunk]) == "a\n\nC\n"


def test_header_like_lines_inside_a_hunk_are_content() -> None:
    # Removing "-- x" and adding "++ y" writes "--- x" and "+++ y" inside the hunk.
    patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n a\n"
    [file] = split_patch(patch)
    [hunk] = parse_hunks(file)
    assert hunk.lines == ["--- x\n", "+++ y\n", " a\n"]
    assert apply_hunks("-- x\na\n", [hunk]) == "++ y\na\n"


@settings(max_examples=200, deadline=None)
@given(
    old=st.lists(st.sampled_from(["a", "b", "c", "--- d", "+++ e", "@@ f", ""]), max_size=12),
    new=st.lists(st.sampled_from(["a", "b", "c", "--- d", "+++ e", "@@ f", "", "g"]), max_size=12),
    context=st.integers(0, 3),
)
def test_difflib_diffs_replay_exactly(old: list[str], new: list[str], context: int) -> None:
    old_lines, new_lines = [f"{line}\n" for line in old], [f"{line}\n" for line in new]
    patch = "".join(difflib.unified_diff(old_lines, new_lines, "a/f", "b/f", n=context))
    files = split_patch(patch)
    assert join_patch(files) == patch
    hunks = [hunk for file in files for hunk in parse_hunks(file)]
    assert apply_hunks("".join(old_lines), hunks) == "".join(new_lines)


def test_apply_hunks_refuses_a_file_that_does_not_match() -> None:
    [file] = split_patch("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(PatchApplyError, match="line 1"):
        apply_hunks("x\n", parse_hunks(file))


def to_plain_unified(patch: str) -> str:
    """A git patch as `diff -u` would write it: only ---/+++ headers and hunks."""
    out = []
    for file in split_patch(patch):
        lines = file.text.splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if line.startswith("--- ")), None)
        if start is not None:
            out += lines[start:]
    return "".join(out)


def test_plain_unified_diffs_split_and_apply(repo: Path) -> None:
    patch = to_plain_unified(git(repo, "diff", "--cached", "--no-renames"))
    files = split_patch(patch)
    assert join_patch(files) == patch
    paths = {(f.old_path, f.new_path) for f in files}
    assert ("queries.sql", "queries.sql") in paths  # its "--- three dashes" line is content
    assert (None, "new.py") in paths and ("del.txt", None) in paths
    [sql] = [f for f in files if f.path == "queries.sql"]
    assert "---- three dashes\n" in sql.text
    kept, dropped = drop_files(patch, is_test_path)
    assert "tests/test_mod.py" in dropped
    reset_to_base(repo)
    git_apply_check(repo, kept)


def test_plain_diff_headers_with_timestamps() -> None:
    patch = (
        "--- old/x.py\t2024-01-01 00:00:00.000000000 +0000\n"
        "+++ new/x.py\t2024-01-02 00:00:00.000000000 +0000\n"
        "@@ -1 +1 @@\n-a\n+b\n"
        "--- /dev/null\t1970-01-01 00:00:00.000000000 +0000\n"
        "+++ new/y.py\t2024-01-02 00:00:00.000000000 +0000\n"
        "@@ -0,0 +1 @@\n+y\n"
    )
    files = split_patch(patch)
    paths = [(f.old_path, f.new_path) for f in files]
    assert paths == [("old/x.py", "new/x.py"), (None, "new/y.py")]


def test_text_before_the_first_file_is_ignored(repo: Path) -> None:
    git(repo, "commit", "-qm", "change everything")
    email = git(repo, "format-patch", "-1", "--stdout", "HEAD")
    files = split_patch(email)
    assert {(f.old_path, f.new_path) for f in files} == EXPECTED_PATHS
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git_apply_check(repo, join_patch(files))
    fenced = "Here is the fix:\n```diff\n" + "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n" + "```\n"
    [file] = split_patch(fenced)
    assert file.path == "f" and file.text.startswith("--- a/f\n")


def test_empty_text_is_an_empty_patch() -> None:
    assert split_patch("") == []
    assert split_patch("\n  \n") == []
    assert join_patch([]) == ""
    assert drop_files("", is_test_path) == ("", [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world\nthis is not a diff\n", r"line 1: not a diff.*'hello world'"),
        ("\n\nstill not\n", r"line 3: not a diff"),
        ("@@ -1 +1 @@\n-a\n+b\n", r"line 1: hunk header before any"),
        ("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n", r"line 3: hunk cut short"),
        ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\nxyz\n", r"line 5: expected a hunk line"),
        ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n-b\n+c\n", r"line 5: more old lines"),
        ("--- a/f\n+++ b/f\n@@ -x +1 @@\n-a\n", r"line 3: malformed hunk header"),
        (
            "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n"
            "diff --git a/g b/g\n",
            r"line 6: expected a hunk line",
        ),
        ('diff --git "a/bad\\q" "b/bad\\q"\n', r"line 1: bad escape"),
    ],
)
def test_text_that_is_not_a_diff_is_an_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(PatchFormatError, match=message):
        split_patch(text)


def test_a_patch_without_a_final_newline_gets_one() -> None:
    [file] = split_patch("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b")
    assert file.text.endswith("+b\n")


def test_file_patch_is_frozen() -> None:
    file = FilePatch(old_path="a", new_path="a", text="")
    with pytest.raises(ValueError):
        file.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_x.py", "test/foo.py", "pkg/tests/helpers.py", "src/testing/util.py",
        "web/__tests__/App.js", "spec/models/user_spec.rb", "Tests/Foo.swift",
        "test_x.py", "pkg/x_test.py", "pkg/x_tests.py", "pkg/conftest.py", "pkg/tests.py",
        "server/handler_test.go", "ui/button.test.tsx", "ui/button.test.js",
        "ui/button.spec.ts", "styles/button.spec.css", "src/main/java/FooTest.java",
        "src/FooTests.java", "src/TestFoo.java", "src/FooIT.java", "lib/foo_spec.rb",
        "lib/foo_test.rb", "Foo.Tests/BarTests.cs", "src/foo_unittest.cc",
        "sympy/core/tests/test_basic.py", "testing/python/approx.py", "src/test/java/FooHelper.java",
        "astropy/io/tests/data/x.fits",
    ],
)
def test_is_test_path_knows_the_conventions(path: str) -> None:
    assert is_test_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "latest.py", "contest/x.py", "attestation.py", "src/protest.py", "testify/x.py",
        "pkg/testdata.py", "src/Latest.java", "src/Contest.java", "src/Testing.java",
        "docs/spectrum.md", "src/button.js", "setup.py", "", "README.md", "src/tests_helper.c",
        # Library code that other projects test with: a change there is a source change.
        "django/test/testcases.py", "django/test/utils.py", "numpy/testing/_private/utils.py",
        "sympy/testing/runtests.py", "lib/matplotlib/testing/decorators.py",
    ],
)
def test_is_test_path_leaves_other_files_alone(path: str) -> None:
    assert not is_test_path(path)
