"""Recomputing the tests of synthesized tasks: the same bugs (their `base_patch`), with
FAIL_TO_PASS and PASS_TO_PASS derived again by running the package's suite with and without
each bug, by the pipeline's current rules (see `pipeline.pass_to_pass`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from agentenv.diffs import apply_hunks, parse_hunks, split_patch
from agentenv.env.provision import RuntimeSettings, provision
from agentenv.synth.pipeline import (
    DEFAULT_TEST_CMD,
    Recipe,
    SynthError,
    _PASSING,
    _read,
    _run_suite,
    _write_spec,
    hidden_files,
    pass_to_pass,
    suite_command,
)
from agentenv.tasks.loader import RESERVED_NAMES
from agentenv.tasks.model import Environment, Task
from agentenv.tasks.pypi import parse_spec, pristine_tree

log = logging.getLogger(__name__)


class RefreshReport(BaseModel):
    refreshed: list[str] = Field(default_factory=list)
    # Tasks whose bug no longer breaks the same tests: the old and new FAIL_TO_PASS.
    changed: dict[str, dict[str, list[str]]] = Field(default_factory=dict)


def mutated_source(tree: Path, base_patch: str) -> tuple[str, str]:
    """(path, text) of the one file a synthesized task's `base_patch` changes, changed."""
    (section,) = split_patch(base_patch)
    return section.path, apply_hunks(_read(tree / section.path), parse_hunks(section))


def refresh_tasks(folder: Path, *, progress: Callable[[str], None] = log.info) -> RefreshReport:
    """Rewrite every synthesized spec of `folder` with its tests recomputed; the same bugs."""
    report = RefreshReport()
    specs: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name not in RESERVED_NAMES:
            raw = yaml.safe_load(path.read_text())
            specs.setdefault(raw["repo_source"], []).append((path, raw))
    for source, items in specs.items():
        recipe = Recipe(source=source, install=items[0][1]["environment"]["install"])
        tree, _ = pristine_tree(parse_spec(source))
        suite = suite_command(recipe, tree)
        base = Task(
            instance_id=f"{parse_spec(source).key}-base".replace("+", "-"), repo_source=source,
            problem_statement="(the package's own test suite)", test_cmd=suite,
            environment=Environment(install=recipe.install),
        )
        runtime = provision(base, RuntimeSettings(kind="docker")).start()
        try:
            baseline, _, broken, _ = _run_suite(runtime, suite, recipe.test_timeout)
            passing = sorted(t for t, s in baseline.items() if s in _PASSING)
            if broken or not passing:
                raise SynthError(f"the test suite of {source} does not run cleanly")
            progress(f"{source}: {len(passing)} tests pass at baseline")
            for path, raw in items:
                relative, text = mutated_source(tree, raw["base_patch"])
                target = f"{runtime.repo_dir}/{relative}"
                runtime.write_file(target, text.encode("utf-8", errors="surrogateescape"))
                try:
                    statuses, _, _, _ = _run_suite(runtime, suite, recipe.test_timeout)
                finally:
                    runtime.write_file(target, _read(tree / relative).encode("utf-8", errors="surrogateescape"))
                failing = [t for t in passing if statuses.get(t) not in _PASSING]
                if sorted(failing) != sorted(raw["FAIL_TO_PASS"]):
                    report.changed[raw["instance_id"]] = {"before": raw["FAIL_TO_PASS"], "after": failing}
                raw.update(
                    FAIL_TO_PASS=failing, PASS_TO_PASS=pass_to_pass(passing, failing),
                    hidden_tests=hidden_files(failing), test_cmd=DEFAULT_TEST_CMD, test_directives=None,
                )
                _write_spec(Task.model_validate(raw), path)
                report.refreshed.append(raw["instance_id"])
                progress(f"{raw['instance_id']}: {len(failing)} FAIL_TO_PASS, {len(raw['PASS_TO_PASS'])} PASS_TO_PASS")
        finally:
            runtime.close()
    return report
