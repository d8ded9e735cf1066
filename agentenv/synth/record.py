"""Recording a synthesis in its set's manifest: the recipe, what came out, the validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from agentenv.synth.pipeline import Recipe, SynthReport
from agentenv.tasks.catalog import MANIFEST, Manifest, ValidationRecord


def record_synthesis(out: Path, recipe: Recipe, report: SynthReport, *, runs: int, seed: int) -> Path:
    path = out / MANIFEST
    manifest = Manifest.model_validate(yaml.safe_load(path.read_text()) or {}) if path.exists() else Manifest(name=out.name)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entry = {
        "source": recipe.source,
        "install": recipe.install,
        "test_cmd": recipe.test_cmd,
        "seed": seed,
        "tried": report.tried,
        "baseline_passing": report.baseline_passing,
        "tasks": report.kept,
        "rejected": report.rejected,
    }
    manifest.sources = [s for s in manifest.sources if s.get("source") != recipe.source] + [entry]
    for instance_id in report.kept:
        manifest.validation[instance_id] = ValidationRecord(valid=True, runs=runs, checked_at=now)
    for instance_id, reasons in report.invalid.items():
        manifest.validation.pop(instance_id, None)
    path.write_text(yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False, width=100))
    return path
