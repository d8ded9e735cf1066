"""`agentenv traj ...`: looking at trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from agentenv.cli.traj_import import import_
from agentenv.exports.collect import ExportError, trajectory_files
from agentenv.trajectory.recorder import TrajectoryError, read_trajectory

app = typer.Typer(help="List, show and import trajectories.", no_args_is_help=True)
app.command("import")(import_)
console = Console()
errors = Console(stderr=True)


@app.command("ls")
def ls(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """A table of the run's trajectories: task, steps, exit status, resolved, reward, cost."""
    try:
        files = trajectory_files(run_dir)
    except ExportError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=str(run_dir))
    for column in ("task", "steps", "exit status", "resolved", "reward", "cost", "file"):
        table.add_column(column, overflow="fold")
    for path in files:
        try:
            trajectory = read_trajectory(path)
        except TrajectoryError as exc:
            table.add_row("?", "-", f"[red]invalid: {exc}[/red]", "-", "-", "-", path.name)
            continue
        footer = trajectory.footer
        table.add_row(
            trajectory.header.instance_id,
            str(len(trajectory.steps)),
            footer.exit_status if footer else "[yellow]unfinished[/yellow]",
            ("[green]yes[/green]" if footer.resolved else "no") if footer else "-",
            f"{sum(s.reward for s in trajectory.steps):g}",
            f"{footer.cost:.4f}" if footer else "-",
            str(path.relative_to(run_dir)),
        )
    console.print(table)


@app.command("show")
def show(
    trajectory: Annotated[Path, typer.Argument(help="A trajectory file.")],
    step: Annotated[int | None, typer.Option(help="Show only this step (0-based).")] = None,
) -> None:
    """Each step as the agent acted and what it saw."""
    try:
        loaded = read_trajectory(trajectory)
    except TrajectoryError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    header = loaded.header
    if step is not None and not 0 <= step < len(loaded.steps):
        errors.print(f"[red]error:[/red] --step must be between 0 and {len(loaded.steps) - 1}")
        raise typer.Exit(2)
    if step is None:
        console.print(
            f"[bold]{header.trajectory_id}[/bold]  agent {header.agent.name}"
            + (f" ({header.agent.model})" if header.agent.model else "")
            + f"  runtime {header.runtime}  started {header.started_at}"
        )
        if header.parent:
            console.print(f"branched from {header.parent.trajectory_id} at step {header.parent.step}")
    for record in loaded.steps if step is None else [loaded.steps[step]]:
        title = f"step {record.index}  reward {record.reward:g}" + ("  [terminated]" if record.terminated else "") + (
            "  [truncated]" if record.truncated else ""
        )
        body = (f"[italic]{record.thought}[/italic]\n\n" if record.thought else "") + f"[bold]$ {record.action}[/bold]"
        console.print(Panel(body, title=title, title_align="left", border_style="cyan"), markup=True)
        console.print(record.observation, markup=False, highlight=False)
    if step is None and loaded.footer is not None:
        footer = loaded.footer
        console.print(
            Panel(
                f"exit status {footer.exit_status}; resolved {footer.resolved}; steps {footer.steps}; "
                f"cost {footer.cost:.4f}; {footer.duration_s:.1f}s"
                + (f"\nerror: {footer.error}" if footer.error else "")
                + (f"\n\n{footer.submission}" if footer.submission else ""),
                title="footer",
                title_align="left",
            ),
            markup=False,
        )


@app.command("json")
def as_json(trajectory: Annotated[Path, typer.Argument(help="A trajectory file.")]) -> None:
    """The validated trajectory as one JSON document (for scripts)."""
    try:
        typer.echo(json.dumps(read_trajectory(trajectory).model_dump(mode="json"), indent=2))
    except TrajectoryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
