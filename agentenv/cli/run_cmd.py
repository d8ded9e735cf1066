"""`agentenv run CONFIG`: every task of a config, with a progress bar and a summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentenv.rollout.config import ConfigError, load_config
from agentenv.rollout.episode import EpisodeResult
from agentenv.rollout.runner import run as run_config
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.tasks.loader import TaskLoadError

console = Console(stderr=True)


def _table(episodes: list[EpisodeResult]) -> Table:
    table = Table(title="episodes")
    for column in ("task", "steps", "exit status", "resolved"):
        table.add_column(column)
    for episode in episodes:
        table.add_row(
            episode.instance_id,
            str(episode.steps),
            episode.exit_status,
            "[green]yes[/green]" if episode.resolved else "[red]no[/red]",
        )
    return table


def run(
    config: Annotated[Path, typer.Argument(help="A run config (YAML), e.g. configs/demo.yaml.")],
    runtime: Annotated[
        str | None, typer.Option(help="docker, local (trusted tasks only) or auto.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Folder of run folders.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run folder; an existing one is resumed.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Episodes run at once.")] = None,
) -> None:
    """Run every task of CONFIG; write trajectories, predictions.jsonl and report.json."""
    if runtime is not None and runtime not in ("docker", "local", "auto"):
        raise typer.BadParameter("must be docker, local or auto", param_hint="--runtime")
    try:
        loaded = load_config(
            config,
            runtime=runtime,
            output=str(output.resolve()) if output else None,
            run_id=run_id,
            workers=workers,
        )
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("resolved {task.fields[resolved]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("episodes", total=None, resolved=0)
        counts = {"resolved": 0}

        def started(finished: int, pending: int) -> None:
            progress.update(bar, total=finished + pending, completed=finished)
            if finished:
                console.print(f"resuming: {finished} episodes already finished, {pending} to run")

        def ended(result: EpisodeResult) -> None:
            counts["resolved"] += int(result.resolved)
            progress.update(bar, advance=1, resolved=counts["resolved"])

        try:
            summary = run_config(loaded, config_name=config.stem, on_episode=ended, on_start=started)
        except (TaskLoadError, RuntimeUnavailable, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

    console.print(_table(summary.episodes))
    report = summary.report
    console.print(
        f"resolved {report.resolved_instances}/{report.total_instances}; "
        f"run folder: {summary.run_dir}"
    )
    failed = [e.instance_id for e in summary.episodes if e.exit_status == "env_error"]
    if failed:
        console.print(f"[red]episodes that could not run:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
