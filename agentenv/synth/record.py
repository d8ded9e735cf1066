"""Recording a synthesis in its set's manifest: the recipe, what came out, the validation."""

from __future__ import annotations

from pathlib import Path

from agentenv.synth.pipeline import DEFAULT_TEST_CMD, PASS_TO_PASS_RULE, Recipe, SynthReport
from agentenv.tasks.catalog import ValidationRecord, now_utc, read_manifest, task_digest, write_manifest
from agentenv.tasks.loader import load_tasks


def record_synthesis(out: Path, recipe: Recipe, report: SynthReport, *, runs: int, seed: int) -> Path:
    manifest = read_manifest(out)
    now = now_utc()
    entry = {
        "source": recipe.source,
        "install": recipe.install,
        "test_cmd": recipe.test_cmd or DEFAULT_TEST_CMD,
        "pass_to_pass": PASS_TO_PASS_RULE,
        "seed": seed,
        "tried": report.tried,
        "baseline_passing": report.baseline_passing,
        "tasks": report.kept,
        "rejected": report.rejected,
    }
    manifest.sources = [s for s in manifest.sources if s.get("source") != recipe.source] + [entry]
    for instance_id in report.kept:
        (task,) = load_tasks(out / f"{instance_id}.yaml")
        manifest.validation[instance_id] = ValidationRecord(valid=True, runs=runs, checked_at=now, task_digest=task_digest(task))
    for instance_id in report.invalid:
        manifest.validation.pop(instance_id, None)
    return write_manifest(out, manifest)
