"""`agentenv traj import`: SWE-agent and mini-swe-agent trajectories as agentenv trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentenv.importing.convert import TrajectoryImportError, import_many
from agentenv.trajectory.model import timestamped_run_id

console = Console(stderr=True)


def import_(
    files: Annotated[list[Path], typer.Argument(
        help="SWE-agent .traj or mini-swe-agent .traj.json files (the format is detected).")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder to write <instance_id>.jsonl files into (default: trajectories/<run id>).")] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Run id in the headers (default: the --out folder's name, or import-<time>).")] = None,
) -> None:
    """Convert trajectories of SWE-agent and mini-swe-agent into agentenv's format."""
    if out_dir is None:
        run_id = run_id or timestamped_run_id("import")
        out_dir = Path("trajectories") / run_id
    try:
        outcomes = import_many(files, out_dir, run_id)
    except TrajectoryImportError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    table = Table(title=f"imported into {escape(str(out_dir))}")
    for column in ("source", "format", "trajectory", "steps", "exit status"):
        table.add_column(column)
    for outcome in outcomes:
        if outcome.path is not None:
            table.add_row(escape(Path(outcome.source).name), outcome.format or "", escape(Path(outcome.path).name),
                          str(outcome.steps), escape(outcome.exit_status or "unfinished"))
    if any(o.path for o in outcomes):
        console.print(table)
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        console.print(f"[red]error:[/red] {escape(outcome.error or '')}", soft_wrap=True)
    console.print(f"imported {len(outcomes) - len(failed)} of {len(outcomes)} files")
    if failed:
        raise typer.Exit(2)
