"""Plumbing the agent cannot disturb: file reads and writes, search and patch collection work
the same whatever the agent did to its own shell, and patches are byte-exact or fail loudly.

Every test that needs a runtime runs on both (a container and the host) against a real git
repository, and patches are checked the way a grader uses them: `git apply` in a fresh runtime
of the same task, then the files compared byte for byte.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Iterator

import pytest

from agentenv.aci import observation as obs
from agentenv.aci.commands_run import describe_run
from agentenv.aci.interface import ACI, ACIConfig
from agentenv.env.provision import Provisioned
from agentenv.runtime.base import CommandResult, Runtime
from agentenv.tasks.model import Task

OPS = "spanlib/ops.py"
MERGE_OLD = "    merged: List[Interval] = []"
MERGE_NEW = "    merged: List[Interval] = []  # sorted, disjoint"


@pytest.fixture(params=["docker", "local"])
def provisioned(request: pytest.FixtureRequest, demo_task: Task) -> Provisioned:
    """How to start runtimes of the demo task (a git repository) on either backend."""
    return request.getfixturevalue(f"{request.param}_provisioned")[demo_task.instance_id]


@pytest.fixture
def runtime(provisioned: Provisioned) -> Iterator[Runtime]:
    started = provisioned.start()
    yield started
    started.close()


def make_aci(runtime: Runtime, demo_task: Task, **config: object) -> ACI:
    settings = ACIConfig(**{"command_timeout": 5, **config})
    return ACI(runtime, test_cmd=demo_task.test_cmd, config=settings)


def sha256(runtime: Runtime, path: str) -> str:
    """The file's digest, computed where it lives (not sent over for it)."""
    return runtime.run(f"sha256sum {path}").output.split()[0]


def apply_in_fresh_runtime(provisioned: Provisioned, patch: str, setup: str = "") -> Runtime:
    """A fresh runtime of the same task, with `patch` applied by `git apply` (the caller closes
    it)."""
    fresh = provisioned.start()
    try:
        if setup:  # run in the fresh repository first, as the base the patch was made against
            assert fresh.run(f"cd {fresh.repo_dir} && {setup}", timeout=60).exit_code == 0
        patch_file = posixpath.join(posixpath.dirname(fresh.repo_dir), "agentenv-test.patch")
        fresh.write_file(patch_file, patch.encode("utf-8"))
        applied = fresh.run(
            f"cd {fresh.repo_dir} && git apply --whitespace=nowarn {patch_file}", timeout=120
        )
        assert applied.exit_code == 0, applied.output
    except BaseException:
        fresh.close()
        raise
    return fresh


# -- the agent's shell state ------------------------------------------------------------------
# Each is run as one `bash` step before the plumbing is used; none may change what it does.
HOSTILE_SHELL_STATES = {
    "set -C": "set -C",
    "set -e": "set -e",
    "set -u": "set -u",
    "pipefail": "set -o pipefail",
    "noglob": "set -f",
    "failglob": "shopt -s failglob nullglob",
    "IFS": "IFS=/",
    "PATH": "export PATH=/nonexistent",
    "GIT_DIR": "export GIT_DIR=/tmp GIT_WORK_TREE=/tmp GIT_INDEX_FILE=/tmp/agent-index",
    "GIT_config": "export GIT_CONFIG_PARAMETERS=\"'diff.noprefix'='true'\" GIT_DIFF_OPTS=-u0",
    "LC_ALL": "export LC_ALL=tr_TR.UTF-8 LANG=tr_TR.UTF-8",
    "umask": "umask 777",
    "alias git": "alias git='echo fake-git'",
    "alias cat": "alias cat='echo fake-cat' printf='echo fake-printf' read=false",
    "function git": "git() { echo fake-git; }",
    "function cd": "cd() { return 1; }",
    "function printf": "printf() { echo fake-printf; }",
    "function read": "read() { return 1; }",
    "function cat": "cat() { echo fake-cat; }",
    "function command": "command() { echo fake-command; }",
    "function test": "test() { return 0; }; [() { return 0; }",
    "DEBUG trap": "trap 'echo TRAPPED' DEBUG",
    "deleted cwd": "mkdir -p /tmp/agent-gone && cd /tmp/agent-gone && rmdir /tmp/agent-gone",
}


@pytest.mark.parametrize(
    "state", list(HOSTILE_SHELL_STATES.values()), ids=list(HOSTILE_SHELL_STATES)
)
def test_the_agents_shell_state_does_not_change_file_io_search_or_the_patch(
    provisioned: Provisioned, runtime: Runtime, demo_task: Task, state: str
) -> None:
    aci = make_aci(runtime, demo_task)
    repo = runtime.repo_dir
    ops = f"{repo}/{OPS}"
    original = runtime.read_file(ops)
    aci.step(f"bash {state}")
    # Absolute paths throughout: relative ones rightly follow the agent's cwd, which may be gone.
    opened = aci.step(f"open {ops}")
    assert opened.info["error"] is None, opened.observation
    assert "10:def merge(" in opened.observation
    edited = aci.step(f"str_replace {ops}\n{MERGE_OLD}\nend_of_old\n{MERGE_NEW}\nend_of_new")
    assert edited.info["error"] is None, edited.observation
    created = aci.step(f"create {repo}/notes/new_notes.txt")
    assert created.info["error"] is None, created.observation
    assert aci.step("edit 1:1\nwritten by the agent\nend_of_edit").info["error"] is None

    assert f"{ops}\n" in aci.step(f"find_file ops.py {repo}").observation
    assert f"{ops} (1 matches)" in aci.step(f"search_dir 'def merge(' {repo}").observation
    assert f"{ops}:10-" in aci.step(f"find_symbol merge {repo}").observation
    assert "Line 10:def merge(" in aci.step(f"search_file 'def merge(' {ops}").observation

    assert runtime.read_file(ops) == original.replace(MERGE_OLD.encode(), MERGE_NEW.encode())
    submitted = aci.step("submit")
    assert submitted.submitted, submitted.observation
    # Byte for byte the patch of the same steps in an undisturbed shell, which applies.
    assert submitted.patch == reference_patch(provisioned, demo_task)


REFERENCE_PATCHES: dict[str, str] = {}


def reference_patch(provisioned: Provisioned, demo_task: Task) -> str:
    """The patch of the edits above made in an undisturbed shell, checked to apply and give
    the edited files; made once per runtime kind."""
    if provisioned.kind not in REFERENCE_PATCHES:
        runtime = provisioned.start()
        try:
            repo = runtime.repo_dir
            aci = make_aci(runtime, demo_task)
            aci.step(f"str_replace {repo}/{OPS}\n{MERGE_OLD}\nend_of_old\n{MERGE_NEW}\nend_of_new")
            aci.step(f"create {repo}/notes/new_notes.txt")
            aci.step("edit 1:1\nwritten by the agent\nend_of_edit")
            patch = aci.step("submit").patch or ""
            expected = runtime.read_file(f"{repo}/{OPS}")
        finally:
            runtime.close()
        assert f"+{MERGE_NEW}\n" in patch and "+written by the agent\n" in patch
        fresh = apply_in_fresh_runtime(provisioned, patch)
        try:
            assert fresh.read_file(f"{fresh.repo_dir}/{OPS}") == expected
            new_notes = fresh.read_file(f"{fresh.repo_dir}/notes/new_notes.txt")
            assert new_notes == b"written by the agent\n"
        finally:
            fresh.close()
        REFERENCE_PATCHES[provisioned.kind] = patch
    return REFERENCE_PATCHES[provisioned.kind]


def test_plumbing_commands_run_in_a_clean_shell_of_their_own(runtime: Runtime) -> None:
    runtime.run("cd /tmp && export GIT_DIR=/tmp PATH=/nonexistent && set -eu && alias ls=false")
    result = runtime.run_plumbing(
        'printf "%s|%s|%s|" "$PWD" "${GIT_DIR-unset}" "$-"; command -v git'
    )
    cwd, git_dir, flags, git = result.output.decode().split("|")
    assert (cwd, git_dir) == ("/", "unset") and "e" not in flags and "u" not in flags
    assert result.exit_code == 0 and git.strip().endswith("/git")
    # The agent's shell is untouched.
    assert runtime.run("echo $GIT_DIR; pwd").output == "/tmp\n/tmp\n"


# -- patches are byte-exact -----------------------------------------------------------------------
LATIN1_SETUP = (
    "mkdir -p notes && printf 'caf\\351 = 1\\nname = \"x\"\\n' > notes/latin1.txt && git add -A && "
    "git -c user.name=t -c user.email=t@example.com commit -qm latin1"
)


def test_a_latin1_file_edited_through_the_aci_comes_back_byte_exact(
    provisioned: Provisioned, runtime: Runtime, demo_task: Task
) -> None:
    assert runtime.run(f"cd {runtime.repo_dir} && {LATIN1_SETUP}").exit_code == 0
    aci = make_aci(runtime, demo_task)
    edited = aci.step(
        'str_replace notes/latin1.txt\nname = "x"\nend_of_old\nname = "y"\nend_of_new'
    )
    assert edited.info["error"] is None, edited.observation
    aci.step("bash printf 'na\\357ve \\377\\n' > notes/new_latin1.txt")
    latin1 = runtime.read_file(f"{runtime.repo_dir}/notes/latin1.txt")
    assert latin1 == b'caf\xe9 = 1\nname = "y"\n'

    patch = aci.step("submit").patch or ""
    assert "\ufffd" not in patch
    patch.encode("utf-8")  # valid UTF-8 text, whatever the files hold
    assert "GIT binary patch" in patch  # what is not UTF-8 travels as a binary diff
    fresh = apply_in_fresh_runtime(provisioned, patch, setup=LATIN1_SETUP)
    try:
        assert fresh.read_file(f"{fresh.repo_dir}/notes/latin1.txt") == latin1
        assert fresh.read_file(f"{fresh.repo_dir}/notes/new_latin1.txt") == b"na\xefve \xff\n"
    finally:
        fresh.close()


def test_binary_changes_are_git_binary_diffs_that_apply_exactly(
    provisioned: Provisioned, runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task)
    # Without a NUL byte git would take this for text; it is not UTF-8 either.
    no_nul = bytes(range(1, 256)) * 40
    with_nul = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4
    runtime.write_file(f"{runtime.repo_dir}/assets/noise.bin", no_nul)
    runtime.write_file(f"{runtime.repo_dir}/assets/image.png", with_nul)
    aci.step(f"bash chmod +x {OPS}")  # a mode change is part of the patch too
    patch = aci.step("submit").patch or ""
    assert patch.count("GIT binary patch") == 2 and "\ufffd" not in patch
    assert "old mode 100644\nnew mode 100755" in patch
    fresh = apply_in_fresh_runtime(provisioned, patch)
    try:
        assert fresh.read_file(f"{fresh.repo_dir}/assets/noise.bin") == no_nul
        assert fresh.read_file(f"{fresh.repo_dir}/assets/image.png") == with_nul
        assert fresh.run(f"test -x {fresh.repo_dir}/{OPS}").exit_code == 0
    finally:
        fresh.close()


def test_a_20mb_patch_is_collected_whole(
    provisioned: Provisioned, runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task, command_timeout=60)
    made = aci.step(
        "bash mkdir -p data && python3 -c \"import sys; sys.stdout.write(''.join('%09d %s\\n' % "
        "(i, 'x' * 90) for i in range(200000)))\" > data/big.txt"
    )
    assert made.info["exit_code"] == 0, made.observation
    outcome = aci.step("submit")
    patch = outcome.patch or ""
    assert len(patch) > 20_000_000 and outcome.info["patch_chars"] == len(patch)
    fresh = apply_in_fresh_runtime(provisioned, patch)
    try:
        big = "data/big.txt"
        original = sha256(runtime, f"{runtime.repo_dir}/{big}")
        assert sha256(fresh, f"{fresh.repo_dir}/{big}") == original
    finally:
        fresh.close()


# -- what the agent sees ----------------------------------------------------------------------
def test_a_file_too_large_to_view_is_an_observation_with_advice(
    runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task)
    line = b"%08d " % 0 + b"y" * 90 + b"\n"
    runtime.write_file(f"{runtime.repo_dir}/huge.txt", line * 90_000)  # 9 MB
    outcome = aci.step("open huge.txt")
    assert outcome.info["error"] == "file_too_large"
    text = outcome.observation
    assert "9,000,000 bytes" in text and "sed -n" in text and "head" in text
    assert "9,000,000 bytes" in aci.step("search_file yyy huge.txt").observation
    assert aci.step("bash echo still fine").observation.startswith("still fine\n")


def test_the_viewer_works_on_a_file_of_a_few_megabytes(runtime: Runtime, demo_task: Task) -> None:
    aci = make_aci(runtime, demo_task)
    lines = [f"value_{i} = {i}\n" for i in range(200_000)]  # about 3.5 MB of Python
    runtime.write_file(f"{runtime.repo_dir}/spanlib/table.py", "".join(lines).encode())
    opened = aci.step("open spanlib/table.py 150000")
    assert opened.info["error"] is None, opened.observation
    assert "150000:value_149999 = 149999" in opened.observation
    edited = aci.step("edit 150000:150000\nvalue_149999 = -1\nend_of_edit")
    assert edited.info["error"] is None, edited.observation
    data = runtime.read_file(f"{runtime.repo_dir}/spanlib/table.py").decode()
    assert data.splitlines()[149_999] == "value_149999 = -1" and len(data.splitlines()) == 200_000


def test_a_1mb_single_line_of_output_is_cleaned_in_linear_time() -> None:
    line = ("\x1b[31mred\x1b[0m progress\r" * 3 + "z" * 1_000_000) + "\n"
    started = time.monotonic()
    cleaned = obs.clean(line, 40_000)
    elapsed = time.monotonic() - started
    # Not a speed target (benchmarks measure those): a guard against quadratic work, which
    # took minutes for this input; linear work takes milliseconds.
    assert elapsed < 5, f"cleaning 1 MB took {elapsed:.1f}s"
    assert len(cleaned) <= 40_000 and "left out of the middle" in cleaned
    assert cleaned.startswith("zzz") and cleaned.endswith("zzz\n") and "\x1b" not in cleaned


def test_a_1mb_single_line_reaches_the_agent_head_and_tail(
    runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task)
    outcome = aci.step("bash python3 -c \"print('HEAD' + 'x' * 1000000 + 'TAIL')\"")
    assert outcome.info["error"] is None
    assert outcome.observation.startswith("HEADxxx") and "TAIL\n" in outcome.observation
    assert "left out of the middle" in outcome.observation
    assert outcome.info["duration_s"] < 10, outcome.info["duration_s"]  # was 52 s for 400 kB


def test_cleaning_keeps_what_a_terminal_would_show() -> None:
    assert obs.clean("10%\r50%\r100%\ndone\r\n", 1000) == "100%\ndone\r\n"
    assert obs.clean("\x1b]0;title\x07\x1b[1;32mok\x1b[0m\n", 1000) == "ok\n"
    # An escape cut in half by the truncation leaves no escape byte behind.
    cut = obs.clean("a" * 600 + "\x1b[31m" + "b" * 2000, 1000)
    assert "\x1b" not in cut and cut.startswith("a" * 400)


def test_job_control_noise_never_reaches_observations(runtime: Runtime, demo_task: Task) -> None:
    aci = make_aci(runtime, demo_task)
    aci.step("bash sleep 0.1 &")
    assert aci.step("bash sleep 0.5; echo after").observation.startswith("after\n")
    aci.step("bash sleep 100 &")
    aci.step("bash kill %1")
    time.sleep(0.2)
    assert aci.step("bash echo next").observation.startswith("next\n")
    timed_out = aci.step("bash echo started; sleep 60")  # killed by the timeout's escalation
    assert "Killed" not in timed_out.observation and "Terminated" not in timed_out.observation
    for outcome in [aci.step("bash echo last")]:
        assert outcome.observation.startswith("last\n")


def test_a_restart_of_the_shell_is_said_in_the_observation(
    runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task, command_timeout=1)
    aci.step("bash cd /tmp && export KEPT=1")
    # Ignoring Ctrl-C in a builtin loop: the only way out is a new shell.
    outcome = aci.step("bash trap '' INT; while :; do :; done")
    assert outcome.info["execution"]["shell_restarted"] is True
    assert "new shell" in outcome.observation and "background jobs" in outcome.observation
    after = aci.step("bash echo \"[$KEPT]\"; pwd").observation
    assert after.startswith(f"[]\n{runtime.repo_dir}\n")
    died = aci.step("bash exit 3").observation
    assert "The shell exited" in died and "background jobs" in died


def test_every_notice_of_a_command_is_shown() -> None:
    result = CommandResult(
        output="partial\n", exit_code=137, duration_s=0.1, cwd="/repo",
        notices=["The memory limit (4g) was hit: a process was killed.", "The disk is full."],
    )
    text = describe_run(result, 60)
    notices = "The memory limit (4g) was hit: a process was killed.\nThe disk is full."
    assert f"partial\n{notices}" in text
    assert text.endswith("(exit code 137)")


def test_files_with_undecodable_names_are_found_read_and_submitted(
    runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(runtime, demo_task)
    aci.step("bash printf 'def needle_zz():\\n    return 1\\n' > \"$(printf 'caf\\351.py')\"")
    found = aci.step("search_dir needle_zz").observation
    assert "caf\ufffd.py (1 matches)" in found
    symbol = aci.step("find_symbol needle_zz").observation
    assert "caf\ufffd.py:1-2  function needle_zz" in symbol
    patch = aci.step("submit").patch or ""
    assert '"b/caf\\351.py"' in patch  # quoted, so the patch stays UTF-8 text


def test_plumbing_output_larger_than_the_shell_keeps_is_an_error(runtime: Runtime) -> None:
    from agentenv.runtime.base import PlumbingError

    with pytest.raises(PlumbingError, match="too large"):
        runtime.run_plumbing("head -c 9000000 /dev/zero", timeout=60)
    assert runtime.run_plumbing("echo ok").output == b"ok\n"



def test_a_lone_surrogate_in_an_action_is_a_parse_error(runtime: Runtime, demo_task: Task) -> None:
    aci = make_aci(runtime, demo_task)
    call = '{"name": "bash", "arguments": {"command": "echo \\ud800"}}'
    outcome = aci.step(call)
    assert outcome.info["error"] == "parse_error" and "U+D800" in outcome.observation
    assert aci.step("create notes/\udce9.txt").info["error"] == "parse_error"


def test_a_killed_plumbing_shell_is_replaced_unseen(
    docker_runtime: Runtime, demo_task: Task
) -> None:
    aci = make_aci(docker_runtime, demo_task)
    # Every bash in the container but the agent's own: the plumbing shell among them.
    killed = aci.step(
        "bash for p in /proc/[0-9]*; do read -r name < $p/comm; pid=${p#/proc/}; "
        '[ "$name" = bash ] && [ "$pid" != $$ ] && kill -9 "$pid"; done; echo done'
    )
    assert killed.observation.startswith("done")
    assert "10:def merge(" in aci.step(f"open {OPS}").observation
    assert aci.step("submit").patch == ""
