"""Every ACI command, its success path and its error paths, on the Docker runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentenv.aci.interface import ACI, ACIConfig
from agentenv.aci.tools import ToolsError, load_toolset
from agentenv.runtime.docker_runtime import DockerRuntime
from agentenv.tasks.model import Task

OPS = "/repo/spanlib/ops.py"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def aci(docker_runtime: DockerRuntime, demo_task: Task) -> Iterator[ACI]:
    yield ACI(docker_runtime, test_cmd=demo_task.test_cmd, config=ACIConfig(window=10, command_timeout=3))


def _file(aci: ACI, path: str) -> str:
    return aci.runtime.read_file(path).decode()


def test_every_observation_ends_with_the_state_line(aci: ACI) -> None:
    outcome = aci.step("open spanlib/ops.py")
    assert outcome.observation.endswith(f"(Open file: {OPS})\n(Current directory: /repo)")


def test_open_shows_a_numbered_window_with_what_lies_beyond(aci: ACI) -> None:
    text = aci.step("open spanlib/ops.py 30").observation
    total = len(_file(aci, OPS).splitlines())
    assert text.startswith(f"[File: {OPS} ({total} lines total)]")
    assert "(24 more lines above)" in text and "30:" in text
    assert f"({total - 34} more lines below)" in text
    assert "\n25:" in text and "\n34:" in text and "\n35:" not in text


def test_goto_and_scrolling_move_the_window(aci: ACI) -> None:
    aci.step("open spanlib/ops.py 40")
    top = aci.step("goto 1").observation
    assert "more lines above" not in top and "\n 1:" in top and "\n10:" in top and "\n11:" not in top
    down = aci.step("scroll_down").observation
    # Two lines of overlap with the previous window: it now shows 9..18.
    assert "(8 more lines above)" in down and "\n 9:" in down and "\n18:" in down and "\n19:" not in down
    up = aci.step("scroll_up").observation
    assert up.split("\n", 1)[1].startswith(" 1:")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("open no/such/file.py", "File /repo/no/such/file.py not found."),
        ("open spanlib", "/repo/spanlib is a directory"),
        ("open spanlib/ops.py 9999", "line_number 9999 is out of range"),
        ("goto 3", "No file is open"),
        ("scroll_down", "No file is open"),
        ("find_file x.py no_dir", "Directory /repo/no_dir not found."),
        ("search_dir term no_dir", "Directory /repo/no_dir not found."),
        ("find_symbol merge no_dir", "Directory /repo/no_dir not found."),
        ('{"name": "search_dir", "arguments": {"search_term": "two\\nlines"}}', "search_term must be a single line"),
        ("search_file needle", "No file is open"),
        ("create spanlib/ops.py", "already exists"),
        ("edit 1:2\nx\nend_of_edit", "No file is open"),
        ("frobnicate", "Unknown command 'frobnicate'"),
        ("bash vim spanlib/ops.py", "vim is interactive"),
    ],
)
def test_mistakes_become_observations_and_the_episode_goes_on(aci: ACI, action: str, message: str) -> None:
    outcome = aci.step(action)
    assert message in outcome.observation
    assert outcome.info["error"] is not None and not outcome.submitted
    assert "hello" in aci.step("bash echo hello").observation


def test_binary_files_are_not_shown(aci: ACI) -> None:
    aci.runtime.write_file("/repo/blob.bin", b"\x00\x01\x02")
    assert "binary file" in aci.step("open blob.bin").observation


def test_find_file(aci: ACI) -> None:
    text = aci.step("find_file ops.py").observation
    assert 'Found 1 files named "ops.py"' in text and OPS in text
    assert "/repo/tests/test_ops.py" in aci.step("find_file 'test_*.py' tests").observation
    assert 'No files named "nothing.rs"' in aci.step("find_file nothing.rs").observation


def test_search_dir_counts_matches_and_asks_to_narrow(aci: ACI) -> None:
    text = aci.step("search_dir 'def merge'").observation
    assert f"{OPS} (1 matches)" in text
    assert "No matches" in aci.step("search_dir zzz_nowhere_zzz").observation
    aci.runtime.run("mkdir -p /repo/many && for i in $(seq 150); do echo needle > /repo/many/f$i.txt; done")
    assert "more than 100 files" in aci.step("search_dir needle").observation


def test_search_file_lists_lines(aci: ACI) -> None:
    aci.step("open spanlib/ops.py")
    text = aci.step("search_file merge").observation
    assert "Line 10:def merge(" in text
    assert "No matches" in aci.step("search_file zzz_nowhere_zzz").observation


def test_create_then_edit_a_new_file(aci: ACI) -> None:
    created = aci.step("create pkg/new_module.py")
    assert "Created /repo/pkg/new_module.py" in created.observation
    edited = aci.step("edit 1:1\ndef answer():\n    return 42\nend_of_edit")
    assert edited.info["error"] is None
    assert _file(aci, "/repo/pkg/new_module.py") == "def answer():\n    return 42\n"


def test_edit_replaces_the_range_and_shows_the_result(aci: ACI) -> None:
    before = _file(aci, OPS).splitlines(keepends=True)
    aci.step("open spanlib/ops.py")
    outcome = aci.step("edit 16:16\n    ordered = sorted((Interval.of(i) for i in intervals), key=lambda i: (i.start, i.end))\nend_of_edit")
    assert outcome.info["error"] is None
    after = _file(aci, OPS).splitlines(keepends=True)
    assert after[:15] == before[:15] and after[16:] == before[16:]
    assert "key=lambda i" in after[15]
    assert "16:    ordered = sorted((Interval.of(i)" in outcome.observation


def test_edit_that_adds_a_syntax_error_is_rejected_and_explained(aci: ACI) -> None:
    original = _file(aci, OPS)
    aci.step("open spanlib/ops.py")
    outcome = aci.step("edit 16:16\n    ordered = sorted(Interval.of(i) for i in intervals\nend_of_edit")
    assert outcome.info["error"] == "edit_rejected"
    text = outcome.observation
    assert text.startswith("Edit NOT applied")
    assert "would have been after the edit" in text and "as it is (unchanged)" in text
    assert "16:    ordered = sorted(Interval.of(i) for i in intervals\n" in text  # proposed
    assert "16:    ordered = sorted(Interval.of(i) for i in intervals)\n" in text  # original
    assert _file(aci, OPS) == original


def test_edit_range_errors(aci: ACI) -> None:
    aci.step("open spanlib/ops.py")
    assert "start_line 500 is out of range" in aci.step("edit 500:501\nx = 1\nend_of_edit").observation
    assert "is before start_line" in aci.step("edit 10:5\nx = 1\nend_of_edit").observation


def test_lint_warn_mode_applies_and_warns(docker_runtime: DockerRuntime, demo_task: Task) -> None:
    aci = ACI(docker_runtime, test_cmd=demo_task.test_cmd, config=ACIConfig(lint="warn"))
    aci.step("open spanlib/ops.py")
    outcome = aci.step("edit 16:16\n    ordered = sorted(\nend_of_edit")
    assert "Warning: the edit was applied" in outcome.observation
    assert "ordered = sorted(\n" in _file(aci, OPS)


def test_bash_timeout_interrupts_and_the_shell_survives(aci: ACI) -> None:
    outcome = aci.step("bash echo partial; sleep 60")
    assert "partial" in outcome.observation and "did not finish within 3s" in outcome.observation
    assert outcome.info["execution"]["timed_out"] is True
    assert "/repo" in aci.step("bash pwd").observation


def test_bash_reports_exit_codes_and_empty_output(aci: ACI) -> None:
    assert "(exit code 3)" in aci.step("bash (exit 3)").observation
    assert aci.step("bash true").observation.startswith("(no output)")


def test_run_tests_gives_structured_results(aci: ACI) -> None:
    outcome = aci.step("run_tests")
    results = outcome.info["test_results"]
    assert results["counts"]["passed"] > 0 and results["counts"]["failed"] == 0
    assert outcome.observation.startswith(f"Tests: {results['counts']['passed']} passed (exit code 0).")
    aci.runtime.run("printf 'def test_broken():\\n    assert 1 == 2\\n' > tests/test_broken.py")
    failing = aci.step("run_tests tests/test_broken.py")
    assert failing.info["test_results"]["failed"] == ["tests/test_broken.py::test_broken"]
    assert "assert 1 == 2" in failing.observation and "Failing: tests/test_broken.py::test_broken" in failing.observation


def test_submit_returns_the_patch_without_caches(aci: ACI) -> None:
    aci.step("open spanlib/ops.py")
    aci.step("edit 1:1\n\"\"\"Operations on collections of intervals (edited).\"\"\"\nend_of_edit")
    aci.step("bash python -c 'import spanlib' && mkdir -p build && touch build/x.o && ls spanlib/__pycache__ >/dev/null")
    aci.step("bash echo new > NEWFILE.txt")
    outcome = aci.step("submit")
    assert outcome.submitted
    patch = outcome.patch or ""
    assert "diff --git a/spanlib/ops.py b/spanlib/ops.py" in patch
    assert "+\"\"\"Operations on collections of intervals (edited).\"\"\"" in patch
    assert "NEWFILE.txt" in patch
    assert "__pycache__" not in patch and "build/x.o" not in patch


def test_submit_with_no_changes_is_an_empty_patch(aci: ACI) -> None:
    outcome = aci.step("submit")
    assert outcome.submitted and outcome.patch == ""
    assert "no changes" in outcome.observation


def test_long_output_is_cut_in_the_middle(docker_runtime: DockerRuntime, demo_task: Task) -> None:
    aci = ACI(docker_runtime, test_cmd=demo_task.test_cmd, config=ACIConfig(max_observation_chars=2000))
    outcome = aci.step("bash seq 1 100000")
    assert len(outcome.observation) <= 2000
    assert outcome.observation.startswith("1\n2\n") and "left out of the middle" in outcome.observation
    assert "\n100000\n" in outcome.observation


def test_ansi_escapes_are_stripped(aci: ACI) -> None:
    text = aci.step("bash printf '\\033[31mred\\033[0m plain\\n'").observation
    assert text.startswith("red plain\n")


# -- structure -------------------------------------------------------------------------------
def test_outline_lists_classes_functions_and_methods(aci: ACI) -> None:
    text = aci.step("outline spanlib/intervalset.py").observation
    assert text.startswith("[Outline of /repo/spanlib/intervalset.py (")
    assert "class IntervalSet  (lines " in text and "  method add  (lines " in text


def test_outline_errors(aci: ACI) -> None:
    assert "does not know the language" in aci.step("outline README.md").observation
    assert "not found" in aci.step("outline nope.py").observation


def test_find_symbol_across_the_repo(aci: ACI) -> None:
    text = aci.step("find_symbol merge").observation
    assert 'Found 1 definitions of "merge"' in text and "/repo/spanlib/ops.py:10-" in text and "function merge" in text
    qualified = aci.step("find_symbol IntervalSet.add").observation
    assert "method IntervalSet.add" in qualified
    aci.runtime.write_file("/repo/other.go", b"package x\n\ntype S struct{}\n\nfunc (s *S) merge() {}\n")
    both = aci.step("find_symbol merge").observation
    assert 'Found 2 definitions' in both and "/repo/other.go:5-5  method S.merge" in both
    assert "No definition" in aci.step("find_symbol nothing_like_this").observation
    assert "no spaces" in aci.step("find_symbol 'two words'").observation


# -- str_replace, insert, undo_edit ------------------------------------------------------------
def test_str_replace_in_text_and_function_syntax(aci: ACI) -> None:
    old = "                merged[-1] = Interval(last.start, current.end)"
    new = "                merged[-1] = Interval(last.start, max(last.end, current.end))"
    outcome = aci.step(f"str_replace spanlib/ops.py\n{old}\nend_of_old\n{new}\nend_of_new")
    assert outcome.info["error"] is None, outcome.observation
    assert new in _file(aci, OPS) and old not in _file(aci, OPS)
    assert "max(last.end, current.end)" in outcome.observation  # the changed window is shown
    # Inside a line, through a function call: no newline is added to either side.
    call = json.dumps({"name": "str_replace", "arguments": {"path": "spanlib/ops.py", "old_str": "max(last.end", "new_str": "max(current.end"}})
    assert aci.step(call).info["error"] is None
    assert "max(current.end, current.end)" in _file(aci, OPS)


def test_str_replace_errors(aci: ACI) -> None:
    original = _file(aci, OPS)
    missing = aci.step("str_replace spanlib/ops.py\nnot in the file\nend_of_old\nx\nend_of_new").observation
    assert "does not occur" in missing
    repeated = aci.step("str_replace spanlib/ops.py\n    return\nend_of_old\n    return None\nend_of_new").observation
    assert "occurs" in repeated and "times" in repeated and "starting on lines" in repeated
    broken = aci.step("str_replace spanlib/ops.py\n    merged: List[Interval] = []\nend_of_old\n    merged: List[Interval] = [\nend_of_new")
    assert broken.info["error"] == "edit_rejected" and broken.info["lint"]
    assert "File /repo/nope.py not found" in aci.step("str_replace nope.py\na\nend_of_old\nb\nend_of_new").observation
    assert _file(aci, OPS) == original


def test_insert_after_a_line_and_at_the_top(aci: ACI) -> None:
    before = _file(aci, OPS).splitlines(keepends=True)
    assert aci.step("insert spanlib/ops.py 0\n# Copyright notice\nend_of_insert").info["error"] is None
    # (After line 3 would be rejected: a future import must come first, and the guard knows.)
    assert aci.step("insert spanlib/ops.py 4\nimport math\nend_of_insert").info["error"] is None
    after = _file(aci, OPS).splitlines(keepends=True)
    assert after[0] == "# Copyright notice\n" and after[4] == "import math\n"
    assert after[1:4] == before[0:3] and after[5:] == before[3:]
    assert "out of range" in aci.step("insert spanlib/ops.py 9999\nx = 1\nend_of_insert").observation
    assert aci.step("insert spanlib/ops.py 1\ndef broken(:\nend_of_insert").info["error"] == "edit_rejected"


def test_undo_edit_goes_back_one_change_at_a_time(aci: ACI) -> None:
    original = _file(aci, OPS)
    aci.step("insert spanlib/ops.py 0\n# one\nend_of_insert")
    after_one = _file(aci, OPS)
    aci.step("insert spanlib/ops.py 0\n# two\nend_of_insert")
    assert "Undid the last edit" in aci.step("undo_edit spanlib/ops.py").observation
    assert _file(aci, OPS) == after_one
    aci.step("undo_edit spanlib/ops.py")
    assert _file(aci, OPS) == original
    assert "No edit of /repo/spanlib/ops.py to undo" in aci.step("undo_edit spanlib/ops.py").observation


def test_undo_of_a_create_removes_the_file(aci: ACI) -> None:
    aci.step("create scratch.py")
    assert "the file is gone" in aci.step("undo_edit scratch.py").observation
    assert aci.runtime.run("test -e /repo/scratch.py").exit_code == 1


def test_devices_are_not_read(aci: ACI) -> None:
    assert "not a regular file" in aci.step("open /dev/zero").observation.lower()


def test_bare_interpreters_are_refused_with_advice(aci: ACI) -> None:
    assert "python -c" in aci.step("bash python").observation
    assert aci.step("bash python -c 'print(6*7)'").observation.startswith("42\n")


# -- user bundles --------------------------------------------------------------------------------
def test_a_user_bundle_command_runs_its_script_in_the_container(docker_runtime: DockerRuntime, demo_task: Task) -> None:
    toolset = load_toolset([FIXTURES / "bundle_wc"])
    aci = ACI(docker_runtime, test_cmd=demo_task.test_cmd, bundle=toolset)
    assert "count_lines <path> [<pattern>]" in aci.docs()
    assert any(s["function"]["name"] == "count_lines" for s in toolset.function_schemas())
    total = len(_file(aci, OPS).splitlines())
    assert aci.step("count_lines spanlib/ops.py").observation.startswith(f"spanlib/ops.py has {total} lines")
    call = json.dumps({"name": "count_lines", "arguments": {"path": "spanlib/ops.py", "pattern": "def "}})
    assert 'lines of spanlib/ops.py contain "def "' in aci.step(call).observation
    failed = aci.step("count_lines nope.txt")
    assert "no such file" in failed.observation and failed.info["exit_code"] == 2


def test_bundle_errors_are_clear(tmp_path) -> None:
    with pytest.raises(ToolsError, match="'bash' of bundle 'dup' is already declared by bundle 'defaults'"):
        bundle = tmp_path / "dup"
        (bundle / "bin").mkdir(parents=True)
        (bundle / "config.yaml").write_text(
            "name: dup\ncommands:\n  - {name: bash, signature: bash, docstring: d, arguments: []}\n"
        )
        (bundle / "bin" / "bash").write_text("#!/bin/sh\n")
        load_toolset([bundle])
    scriptless = tmp_path / "scriptless"
    scriptless.mkdir()
    (scriptless / "config.yaml").write_text("name: s\ncommands:\n  - {name: hello, signature: hello, docstring: d, arguments: []}\n")
    with pytest.raises(ToolsError, match=r"'hello' of bundle 's' has no script \(expected bin/hello"):
        load_toolset([scriptless])


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("open spanlib/ops.py 30", {"name": "open", "arguments": {"path": "spanlib/ops.py", "line_number": 30}}),
        ("search_dir 'def merge'", {"name": "search_dir", "arguments": {"search_term": "def merge"}}),
        ("find_symbol merge", {"name": "find_symbol", "arguments": {"name": "merge"}}),
        ("bash ls spanlib | sort", {"name": "bash", "arguments": {"command": "ls spanlib | sort"}}),
        ("insert README.md 1\nAnother line.\nend_of_insert", {"name": "insert", "arguments": {"path": "README.md", "line": 1, "text": "Another line."}}),
    ],
)
def test_both_syntaxes_give_identical_results(docker_provisioned, demo_task: Task, text: str, call: dict) -> None:
    results = []
    for action in (text, json.dumps(call)):
        runtime = docker_provisioned[demo_task.instance_id].start()
        try:
            aci = ACI(runtime, test_cmd=demo_task.test_cmd)
            outcome = aci.step(action)
            results.append((outcome.observation, aci.collect_patch()))
        finally:
            runtime.close()
    assert results[0] == results[1]


def test_tools_schema_cli_prints_the_json_list() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "agentenv.cli.main", "tools", "schema"], capture_output=True, text=True, check=True)
    schemas = json.loads(done.stdout)
    assert isinstance(schemas, list) and {s["function"]["name"] for s in schemas} >= {"edit", "str_replace", "find_symbol"}
    assert all(s["type"] == "function" and s["function"]["parameters"]["type"] == "object" for s in schemas)


def test_run_tests_that_hang_are_interrupted(docker_runtime: DockerRuntime, demo_task: Task) -> None:
    aci = ACI(docker_runtime, test_cmd=demo_task.test_cmd, config=ACIConfig(test_timeout=3))
    aci.runtime.write_file("/repo/tests/test_hangs.py", b"import time\n\ndef test_hangs():\n    time.sleep(60)\n")
    outcome = aci.step("run_tests tests/test_hangs.py")
    assert "did not finish within 3s" in outcome.observation
    assert outcome.info["execution"]["timed_out"] is True
    assert aci.step("bash echo still here").observation.startswith("still here")
