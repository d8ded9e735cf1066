"""`agentenv export KIND RUN_DIR... --out PATH`: training datasets from runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentenv.exports.build import KINDS, export
from agentenv.exports.collect import ExportError
from agentenv.feedback.models import FeedbackError

console = Console(stderr=True)


def export_command(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders.")],
    out: Annotated[Path, typer.Option(help="The output file (for minari: the datasets folder).")],
    only_resolved: Annotated[bool, typer.Option(help="Only resolved trajectories (sft, rl, minari).")] = False,
    file_format: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    db: Annotated[list[Path] | None, typer.Option(help="Feedback database(s) for dpo/prm (default: those in the run folders).")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Leave out malformed trajectory files instead of stopping.")] = False,
    dataset_id: Annotated[str | None, typer.Option(help="minari: the dataset id, e.g. agentenv/demo-v0.")] = None,
) -> None:
    """Export trajectories as sft, rl, minari, dpo, prm or kto data."""
    if file_format not in ("jsonl", "parquet"):
        raise typer.BadParameter("must be jsonl or parquet", param_hint="--format")
    try:
        summary = export(
            kind, run_dirs, out, file_format=file_format, only_resolved=only_resolved,  # type: ignore[arg-type]
            dbs=db or None, skip_invalid=skip_invalid, dataset_id=dataset_id,
        )
    except (ExportError, FeedbackError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    notes = []
    if summary.unfinished:
        notes.append(f"{summary.unfinished} unfinished trajectories left out")
    if summary.invalid:
        notes.append(f"{summary.invalid} invalid files left out")
    console.print(
        f"{summary.records} {kind} records from {summary.trajectories} trajectories -> {summary.out}"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
