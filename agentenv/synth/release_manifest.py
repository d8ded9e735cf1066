"""Recording pairs of releases in their set's manifest: every pair tried (the task it gave,
or why it gave none) and the validation of the tasks kept."""

from __future__ import annotations

from pathlib import Path

from agentenv.synth.releases import PairRecord, instance_id
from agentenv.tasks.catalog import (
    ValidationRecord,
    now_utc,
    read_manifest,
    task_digest,
    write_manifest,
)
from agentenv.tasks.loader import load_tasks
from agentenv.tasks.pypi import parse_spec

DESCRIPTION = (
    "Real bug fixes from consecutive releases on the package index: the older release is the "
    "base, the newer one's package changes the reference patch, its test changes the hidden tests."
)


def record_pair(out: Path, record: PairRecord, *, runs: int) -> Path:
    """Put the pair's record in `out`'s manifest (replacing an earlier one of the same pair),
    with its task's validation when it gave one."""
    manifest = read_manifest(out)
    manifest.description = manifest.description or DESCRIPTION
    entry = record.model_dump(mode="json")
    manifest.sources = [
        s for s in manifest.sources if (s.get("old"), s.get("new")) != (record.old, record.new)
    ] + [entry]
    manifest.sources.sort(key=lambda source: (str(source.get("old")), str(source.get("new"))))
    if record.task is not None:
        (task,) = load_tasks(out / f"{record.task}.yaml")
        manifest.validation[record.task] = ValidationRecord(
            valid=True, runs=runs, checked_at=now_utc(), task_digest=task_digest(task)
        )
        manifest.validation = dict(sorted(manifest.validation.items()))
    else:
        # An earlier attempt's task of the same pair is no longer vouched for.
        manifest.validation.pop(instance_id(parse_spec(record.old), parse_spec(record.new)), None)
    return write_manifest(out, manifest)
