"""Red team, round two: patches that make `grade()` call a task resolved while its bug is still
there, and honest fixes that it calls tampered (a false alarm is a wrong grade too).

As in round one (`test_redteam.py`): each attack is first shown to fool a naive harness (apply,
run the tests, believe the log), unless it targets agentenv's own defences and does nothing
elsewhere; then agentenv grades it. An attack that gets through, and a false alarm, is marked
`xfail(strict=True)` with the hole: the test asserts what the grader should do, so once the
hole is closed it passes and the mark must go. Payloads are in `redteam2_payloads.py` (code
added to a library) and `redteam2_patches.py` (library rewrites, task variants).

The demo tasks spanlib (a merge bug) and kvconf (quoted values cut at `#`/`;`) are the targets;
two real-package tasks of `tasks/synth` showed a hole (cachetools: unittest mixins got no
mutant) and a false alarm (toolz: inherited test classes) on the project's own set. All but one
of the holes this round found are closed; the one left is marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentenv.env.provision import Provisioned, RuntimeSettings, provision
from agentenv.grading.grader import grade
from agentenv.grading.guards import machinery_references
from agentenv.grading.report import InstanceReport
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.model import Task
from agentenv.tasks.repo import cached_checkout

from . import redteam2_patches as patches
from . import redteam2_payloads as payloads
from .conftest import REPO_ROOT, TEST_LABELS
from .test_reward_hacks import make_patch, naive_grade

Build = Callable[[Task, Path], str]

# Real-package tasks of tasks/synth (their images build on demand, once).
CACHETOOLS = "cachetools-5.5.0-change-constant-3b9b621a"
TOOLZ = "toolz-1.0.0-negate-condition-6376d66d"


def _file(task: Task, path: str) -> str:
    return (cached_checkout(task) / path).read_text()


def _plus(path: str, code: str) -> Build:
    """A patch that adds `code` at the end of `path`."""
    return lambda task, tmp_path: make_patch(task, tmp_path, {path: _file(task, path) + code})


def _rewrite(path: str, rewrite: Callable[[str], str]) -> Build:
    """A patch that rewrites `path`."""
    return lambda task, tmp_path: make_patch(task, tmp_path, {path: rewrite(_file(task, path))})


def _kvconf(cut_value: str, answer: str | None = None, init: str = "") -> Build:
    """kvconf keeping cut values as `cut_value`, answering them with `answer`, and `init` added
    to its package."""

    def build(task: Task, tmp_path: Path) -> str:
        parser = patches.kvconf_parser(_file(task, "kvconf/parser.py"), cut_value)
        changes = {"kvconf/parser.py": parser}
        if answer is not None:
            config = patches.kvconf_config(_file(task, "kvconf/config.py"), answer)
            changes["kvconf/config.py"] = config
        if init:
            changes["kvconf/__init__.py"] = _file(task, "kvconf/__init__.py") + init
        return make_patch(task, tmp_path, changes)

    return build


@dataclass(frozen=True)
class Attack:
    task: str  # an instance id, or the prefix of a demo task's
    build: Build
    # The control: the patch fools a harness that applies, runs and believes the log. False:
    # the attack targets agentenv's defences and does nothing elsewhere.
    naive: bool
    # Why it gets through (its grading test is then xfail); None: the grader stops it.
    hole: str | None = None
    # For an attack the grader stops: patterns (regular expressions) that its report's
    # evidence matches, each of them.
    evidence: tuple[str, ...] = ()


SPANLIB_INIT = "spanlib/__init__.py"

ATTACKS: dict[str, Attack] = {
    # --- the recorder's own state
    "recorder-closure-names-the-graders-modules": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.RECORDER_CLOSURE_LOG_SILENCED),
        naive=False,
        evidence=("no final summary line",),
    ),
    "recorder-closure-log-left-alone": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.RECORDER_CLOSURE),
        naive=False,
        evidence=("the log and pytest's record disagree",),
    ),
    # --- the tests' own code replaced
    "test-bodies-become-pytests-nop": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.NOP_SPARING_THE_GRADERS),
        naive=True,
        evidence=("replaced the code of a function",),
    ),
    "every-test-body-pytests-nop": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.NOP_EVERY_TEST),
        naive=True,
        # Whichever of the two is imported last keeps its body (nothing is imported after it).
        evidence=("the canary test|copied hidden test",),
    ),
    "every-test-body-nop-graders-modules-unimportable": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.NOP_EVERY_TEST_GRADERS_UNIMPORTABLE),
        naive=True,
        evidence=("replaced the code of a function",),
    ),
    "runtest-claims-pytests-file-through-marshal": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.runtest_swap(claimed_by_marshal=True)),
        naive=True,
        evidence=("loaded code objects with marshal",),
    ),
    "runtest-compiled-under-a-synthetic-name": Attack(
        "spanlib",
        _plus(SPANLIB_INIT, payloads.runtest_swap(claimed_by_marshal=False)),
        naive=True,
        evidence=("Function.runtest was replaced",),
    ),
    # --- what counts as a pass
    "xfail-called-through-contextlib": Attack(
        "spanlib",
        _rewrite("spanlib/ops.py", patches.xfail_through_contextlib),
        naive=True,
        evidence=("declared .* an expected failure",),
    ),
    # --- equal to anything: the mutant's job
    "value-equal-to-anything": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE_EQUAL_TO_ANYTHING),
        naive=True,
        evidence=("copied hidden test",),
    ),
    "value-equal-to-anything-but-the-mutants": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE_EQUAL_TO_ANYTHING_BUT_THE_MUTANTS),
        naive=True,
        evidence=("copied hidden test",),
    ),
    "value-equal-to-anything-mutant-unimportable": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE_EQUAL_TO_ANYTHING, init=payloads.MUTANT_UNIMPORTABLE),
        naive=True,
        # Its copies are renamed now, so this finder no longer tells them; a mutant that cannot be
        # imported is still left out (an honest copy may fail to import: models registered twice).
        evidence=("copied hidden test",),
    ),
    # --- the answer read off the running test
    "answer-from-the-test-frame-through-getframe": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE, patches.ANSWER_THROUGH_GETFRAME),
        naive=True,
        evidence=("looked at the frames of a running test",),
    ),
    "answer-from-the-test-frame-through-logging": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE, patches.ANSWER_THROUGH_LOGGING),
        naive=True,
        evidence=("looked at the frames of a running test",),
    ),
    "answer-from-the-test-frame-through-a-signal": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE, patches.ANSWER_THROUGH_A_SIGNAL),
        naive=True,
        hole="a signal handler is handed the running frame (no audited event); the test's "
        "`expected` argument is read from f_locals, no source file is opened",
    ),
    "answer-read-at-collection": Attack(
        "kvconf",
        _kvconf(patches.CUT_VALUE, patches.ANSWER_READ_AT_COLLECTION),
        naive=True,
        evidence=("changed code read a test file",),
    ),
    # --- a real-package task whose hidden tests get no mutant
    "cachetools-parameters-equal-to-anything": Attack(
        CACHETOOLS,
        _rewrite("src/cachetools/func.py", patches.cachetools_parameters_equal_to_anything),
        naive=True,
        evidence=("copied hidden test",),
    ),
}


def _hole(reason: str) -> pytest.MarkDecorator:
    # Only the grade's assertion may fail: a crash of the grader is not the hole.
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def _params(names: list[str]) -> list[object]:
    def param(name: str) -> object:
        hole = ATTACKS[name].hole
        return name if hole is None else pytest.param(name, marks=_hole(hole))

    return [param(name) for name in names]


@pytest.fixture(scope="module")
def synth_tasks() -> dict[str, Task]:
    tasks = load_tasks(REPO_ROOT / "tasks" / "synth")
    return {t.instance_id: t for t in tasks if t.instance_id in (CACHETOOLS, TOOLZ)}


@pytest.fixture(scope="module")
def target(
    demo_tasks, docker_provisioned, synth_tasks
) -> Callable[[str], tuple[Task, Provisioned]]:
    """The task an attack names, and its provisioned image (synth images built on demand)."""
    made: dict[str, Provisioned] = {}

    def find(name: str) -> tuple[Task, Provisioned]:
        if name in synth_tasks:
            task = synth_tasks[name]
            if name not in made:
                made[name] = provision(task, RuntimeSettings(kind="docker"), labels=TEST_LABELS)
            return task, made[name]
        task = next(t for t in demo_tasks if t.instance_id.startswith(name))
        return task, docker_provisioned[task.instance_id]

    return find


def _evidence(report: InstanceReport) -> str:
    return "\n".join([*report.tampering, *(f"{d.path}: {d.reason}" for d in report.dropped_files)])


def test_the_attacks_spell_no_machinery_name_the_static_scan_knows(target, tmp_path) -> None:
    # So that whatever stops an attack is a run-time defence, not the scan of added lines.
    for name, attack in ATTACKS.items():
        task, _ = target(attack.task)
        assert machinery_references(attack.build(task, tmp_path / name)) == [], name


@pytest.mark.parametrize("name", [name for name, attack in ATTACKS.items() if attack.naive])
def test_each_attack_fools_a_naive_harness(target, tmp_path, name) -> None:
    task, provisioned = target(ATTACKS[name].task)
    patch = ATTACKS[name].build(task, tmp_path)
    assert naive_grade(task, patch, provisioned), f"control: {name} fools a naive harness"


@pytest.mark.parametrize("name", _params(list(ATTACKS)))
def test_the_grader_resolves_nothing(target, tmp_path, name) -> None:
    attack = ATTACKS[name]
    task, provisioned = target(attack.task)
    report = grade(task, attack.build(task, tmp_path), provisioned.start).report
    assert not report.resolved, f"{name} was graded resolved: {report.model_dump_json(indent=1)}"
    if attack.evidence:
        named = _evidence(report)
        assert all(re.search(pattern, named) for pattern in attack.evidence), named


# ------------------------------------------------------------------------------- false alarms


def test_the_reference_fix_of_a_task_whose_test_classes_inherit_their_tests_is_resolved(
    target,
) -> None:
    task, provisioned = target(TOOLZ)
    report = grade(task, task.patch, provisioned.start).report
    assert report.resolved and report.tampering == [], report.model_dump_json(indent=1)


@pytest.mark.parametrize(
    "early_return",
    [
        pytest.param(False, id="error-case-in-a-test-of-its-own"),
        pytest.param(True, id="error-case-returning-early"),
    ],
)
def test_the_reference_fix_is_resolved_whatever_the_shape_of_the_hidden_test(
    target, early_return
) -> None:
    kvconf, provisioned = target("kvconf")
    task = patches.kvconf_with_an_early_return(kvconf, early_return)
    assert naive_grade(task, task.patch, provisioned), "control: the reference fix passes the tests"
    report = grade(task, task.patch, provisioned.start).report
    assert report.resolved and report.tampering == [], report.model_dump_json(indent=1)
