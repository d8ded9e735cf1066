"""One run of the hidden tests in a grading runtime, and what was recorded of it.

The test command runs under a supervisor (`run_supervisor.py`) that starts it as an
unprivileged user where it can (Docker), gives pytest's results plugin
(`pytest_results_plugin.py`) a key and a channel, verifies what comes back, and kills what the
run leaves behind. The hidden test patch is applied first, then a canary test that must fail
(`canary.py`) is put beside the hidden tests. `trust.py` reads the result.
"""

from __future__ import annotations

import json
import posixpath
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from agentenv.grading.canary import MustFail, make_canary, make_mutant, placed
from agentenv.grading.log_parsers import PYTEST_ID_FORMS, TestStatus, get_parser
from agentenv.runtime.base import Runtime
from agentenv.runtime.shell import shell_word
from agentenv.tasks.directives import hidden_test_command, test_directives
from agentenv.tasks.model import Task

# nobody:nogroup in Debian-based images; the run needs no account, only an id without rights.
TEST_USER = "65534:65534"
SETTINGS_FILE = "agentenv_run.json"  # read by the plugin, beside it


class HiddenTestsDoNotApply(Exception):
    """The task's test patch does not apply (after the agent's patch): a task or patch problem."""


@dataclass
class TestRun:
    """One run of the test command, and what was recorded of it."""

    __test__ = False

    log: str
    exit_code: int | None
    timed_out: bool
    statuses: dict[str, TestStatus]
    # From pytest's results plugin: None when it was not used.
    recorded: dict[str, TestStatus] | None = None
    finished: bool = False
    duration_s: float = 0.0
    # What the recorder and the supervisor saw that honest code does not do.
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The supervisor's account (exit code, forged lines, leftovers); None if it did not report.
    supervisor: dict[str, object] | None = None
    # The tests that fail in every honest run: the canary's id, and a mutant of the hidden tests.
    canary: str | None = None
    canary_imports_of: str | None = None  # the hidden module whose imports the canary repeats
    mutant: MustFail | None = None
    # Modules of ours that could not be imported in this run (so their tests did not run).
    unimportable: list[str] = field(default_factory=list)
    command: str = ""

    def is_ours(self, test: str) -> bool:
        """A test the grader added (the canary, the mutant's), not one of the task's."""
        return test == self.canary or (self.mutant is not None and self.mutant.covers(test))


@dataclass
class RunContext:
    """What the recorder needs to know about the patch (all repository-relative)."""

    changed_files: list[str] = field(default_factory=list)
    # Capabilities the base repository's own code already uses (frames, gc, trace, source):
    # then the patch's code using them is not evidence of anything.
    allowed: dict[str, bool] = field(default_factory=dict)


def _apply_test_patch(task: Task, runtime: Runtime, workdir: str) -> None:
    if task.test_patch.strip():
        runtime.write_file(f"{workdir}/test.patch", task.test_patch.encode())
        applied = runtime.run(
            f"cd {shell_word(runtime.repo_dir)} && git apply --verbose {shell_word(workdir + '/test.patch')}", timeout=120
        )
        if applied.exit_code != 0:
            raise HiddenTestsDoNotApply(applied.output.strip())


def _must_fail(task: Task, runtime: Runtime, directives: list[str]) -> tuple[MustFail | None, MustFail | None]:
    """A canary, and a mutant of the first hidden module that holds FAIL_TO_PASS tests."""
    sources: dict[str, str] = {}
    for module in [d for d in directives if d.endswith(".py")][:20]:
        try:
            sources[module] = runtime.read_file(f"{runtime.repo_dir}/{module}").decode("utf-8", errors="replace")
        except (OSError, ValueError):
            continue
    first = next(iter(sources.values()), "")
    canary = make_canary(directives, first)
    taken = [*directives, *([canary.path] if canary else [])]
    for module, source in sources.items():
        mutant = make_mutant(module, source, task.FAIL_TO_PASS, taken)
        if mutant is not None:
            return canary, mutant
    return canary, None


def _is_root(runtime: Runtime) -> bool:
    return runtime.run("id -u", timeout=30).output.strip() == "0"


def _supervisor_python(runtime: Runtime) -> str | None:
    found = runtime.run("command -v python3 || command -v python", timeout=30)
    path = found.output.strip().splitlines()[-1] if found.exit_code == 0 and found.output.strip() else ""
    return path or None


def run_hidden_tests(
    task: Task,
    runtime: Runtime,
    workdir: str,
    timeout: float,
    context: RunContext | None = None,
    *,
    with_canary: bool = True,
) -> TestRun:
    """Apply the hidden tests, put the canary beside them, and run the test command supervised."""
    context = context or RunContext()
    _apply_test_patch(task, runtime, workdir)
    repo = runtime.repo_dir
    directives = test_directives(task)
    use_recorder = task.log_parser in PYTEST_ID_FORMS
    canary, mutant = _must_fail(task, runtime, directives) if use_recorder and with_canary else (None, None)
    added = [module for module in (canary, mutant) if module is not None]
    for module in added:
        runtime.write_file(f"{repo}/{module.path}", module.source.encode())
    command = hidden_test_command(task, directives=placed(directives, added))
    python = _supervisor_python(runtime)
    if python is None:  # an image without Python: the command runs as it is, unsupervised
        result = runtime.run(f"( cd {shell_word(repo)} && {command} )", timeout=timeout)
        run = TestRun(result.output, result.exit_code, result.timed_out, get_parser(task.log_parser)(result.output))
        run.notes.append("the image has no Python: the run was not supervised or recorded")
        run.duration_s, run.command = result.duration_s, command
        return run

    plugin = f"agentenv_results_{secrets.token_hex(4)}"
    plugin_dir, results = f"{workdir}/plugin", f"{workdir}/results/results.jsonl"
    source = resources.files("agentenv.grading")
    runtime.write_file(f"{workdir}/run_supervisor.py", source.joinpath("run_supervisor.py").read_bytes())
    arguments = [f"--results {shell_word(results)}", f"--repo {shell_word(repo)}"]
    if use_recorder:
        runtime.write_file(f"{plugin_dir}/{plugin}.py", source.joinpath("pytest_results_plugin.py").read_bytes())
        settings = {
            "repo": repo,
            "changed_files": [f"{repo}/{path}" for path in context.changed_files],
            "test_files": [f"{repo}/{path}" for path in [*directives, *task.hidden_tests]],
            "private_dirs": [f"{workdir}/results"],
            "allowed": context.allowed,
        }
        runtime.write_file(f"{plugin_dir}/{SETTINGS_FILE}", json.dumps(settings).encode())
        arguments += [f"--plugin {plugin}", f"--plugin-dir {shell_word(plugin_dir)}"]
    # No bytecode in the repository when the tests start (the guards drop it from patches; this
    # is the second layer): a planted .pyc cannot stand in for a source file. Bytecode of the
    # installed packages stays, so pytest and its plugins are not compiled again at every grade.
    no_bytecode = f"find {shell_word(repo)} \\( -name __pycache__ -prune -o -name '*.py[co]' \\) -exec rm -rf {{}} +"
    prepare = f"mkdir -p -m 700 {shell_word(workdir + '/results')} && {no_bytecode}"
    if use_recorder and added:
        secrets_file = f"{workdir}/results/ours.json"
        prepare += f" && chmod 700 {shell_word(workdir + '/results')}"
        arguments.append(f"--secrets {shell_word(secrets_file)}")
    if runtime.kind == "docker" or _is_root(runtime):
        # The tests run as a user who owns the repository and a home, and nothing else. On
        # the host, only if the interpreter is reachable by that user (the supervisor
        # checks); the scratch folder around the repository must let it through.
        home = f"{workdir}/home"
        prepare += f" && mkdir -p {shell_word(home)} && chown -R {TEST_USER} {shell_word(repo)} {shell_word(home)}"
        arguments += [f"--user {TEST_USER}", f"--home {shell_word(home)}"]
        if runtime.kind != "docker":  # a host's scratch folder is private to its owner
            prepare += f" && chmod 711 {shell_word(posixpath.dirname(repo))}"
            arguments.append("--user-if-able")
    prepared = runtime.run(prepare, timeout=300)
    if prepared.exit_code != 0:
        raise OSError(f"could not prepare the grading runtime: {prepared.output.strip()[-500:]}")
    if use_recorder and added:
        runtime.write_file(f"{workdir}/results/ours.json", json.dumps([m.path for m in added]).encode())
    result = runtime.run(
        f"cd {shell_word(repo)} && {shell_word(python)} -I -S {shell_word(workdir + '/run_supervisor.py')} "
        f"{' '.join(arguments)} -- {shell_word(command)}",
        timeout=timeout,
    )
    run = TestRun(
        log=result.output,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        statuses=get_parser(task.log_parser)(result.output),
        duration_s=result.duration_s,
        canary=canary.tests[0] if canary else None,
        canary_imports_of=canary.imports_of if canary else None,
        mutant=mutant,
        command=command,
    )
    _read_results(runtime, results, run, PYTEST_ID_FORMS.get(task.log_parser) if use_recorder else None)
    if run.supervisor and isinstance(run.supervisor.get("command_s"), float | int):
        run.duration_s = float(run.supervisor["command_s"])  # the tests' own time, without ours
    return run


def _read_results(runtime: Runtime, path: str, run: TestRun, id_form: Callable[[str], str] | None) -> None:
    """Read the supervisor's file; pytest's ids are put in the log parser's form (`id_form`)."""
    try:
        text = runtime.read_file(path).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        text = ""
    if id_form is not None:
        run.recorded = {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind, fields = record.get("kind"), record.get("fields") or []
        if kind == "supervisor":
            run.supervisor = record.get("account")
        elif kind == "test" and len(fields) == 2 and fields[1] in TestStatus.__members__ and id_form is not None:
            run.recorded[id_form(fields[0])] = TestStatus(fields[1])  # type: ignore[index]
        elif kind == "finished":
            run.finished = True
        elif kind == "evidence" and fields:
            run.evidence.append(fields[0])
        elif kind == "note" and fields:
            run.notes.append(fields[0])
        elif kind == "unimportable" and fields:
            run.unimportable.append(fields[0])
