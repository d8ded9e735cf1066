"""`agentenv export KIND RUN_DIR...`: trajectories (and their feedback) to a training dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel

from agentenv.exports.collect import ExportError, collect
from agentenv.exports.records import (
    PreferencePair,
    Rating,
    dpo_records,
    kto_records,
    prm_records,
    rl_record,
    sft_record,
)
from agentenv.exports.writer import Format, write_records
from agentenv.feedback.store import FEEDBACK_DB, FeedbackStore

Kind = Literal["sft", "rl", "minari", "dpo", "prm", "kto"]
KINDS: tuple[str, ...] = get_args(Kind)


class ExportSummary(BaseModel):
    kind: str
    out: str
    records: int
    trajectories: int
    unfinished: int
    invalid: int


def feedback_dbs(run_dirs: list[Path], dbs: list[Path] | None) -> list[Path]:
    """The feedback databases to read: the ones named, else every one in the run folders."""
    if dbs:
        missing = [str(db) for db in dbs if not db.is_file()]
        if missing:
            raise ExportError(f"no feedback database at {', '.join(missing)}")
        return dbs
    return sorted(db for run_dir in run_dirs for db in run_dir.rglob(FEEDBACK_DB))


def read_feedback(databases: list[Path]) -> tuple[list[Rating], list[PreferencePair]]:
    ratings: list[Rating] = []
    preferences: list[PreferencePair] = []
    for database in databases:
        with FeedbackStore(database, create=False) as store:
            ratings += [Rating(r.trajectory_id, r.step, r.label, r.rewrite) for r in store.ratings()]
            preferences += [
                PreferencePair(p.trajectory_a_id, p.trajectory_b_id, p.winner, p.reason) for p in store.preferences()
            ]
    return ratings, preferences


def export(
    kind: str,
    run_dirs: list[Path],
    out: Path,
    *,
    file_format: Format = "jsonl",
    only_resolved: bool = False,
    dbs: list[Path] | None = None,
    skip_invalid: bool = False,
    dataset_id: str | None = None,
) -> ExportSummary:
    if kind not in KINDS:
        raise ExportError(f"unknown export {kind!r}; one of {', '.join(KINDS)}")
    # Preference-like data needs the unresolved trajectories too.
    filter_resolved = only_resolved and kind in ("sft", "rl", "minari")
    found = collect(run_dirs, only_resolved=filter_resolved, skip_invalid=skip_invalid)
    trajectories = [trajectory for _, trajectory in found.trajectories]
    if kind == "minari":
        from agentenv.exports.minari_export import export_minari  # minari is an optional extra

        name = dataset_id or f"agentenv/{run_dirs[0].name}-v0"
        folder = export_minari(trajectories, name, root=out)
        count = len(trajectories)
        written = folder
    else:
        if kind == "sft":
            records = [sft_record(t) for t in trajectories]
        elif kind == "rl":
            records = [rl_record(t) for t in trajectories]
        elif kind == "kto":
            records = kto_records(trajectories)
        else:
            ratings, preferences = read_feedback(feedback_dbs(run_dirs, dbs))
            records = dpo_records(trajectories, preferences) if kind == "dpo" else prm_records(trajectories, ratings)
        written = write_records(records, out, file_format)
        count = len(records)
    return ExportSummary(
        kind=kind,
        out=str(written),
        records=count,
        trajectories=len(trajectories),
        unfinished=len(found.unfinished),
        invalid=len(found.invalid),
    )
