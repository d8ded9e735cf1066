"""`agentenv run CONFIG`: every task of a config, with a progress bar and a summary table."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentenv.rollout.config import ConfigError, load_config
from agentenv.rollout.episode import EpisodeResult
from agentenv.rollout.ledger import LedgerError
from agentenv.rollout.resume import ConfigChanged
from agentenv.rollout.runner import run as run_config
from agentenv.rollout.stop import RunStop, stop_on_signals
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.tasks.loader import TaskLoadError

console = Console(stderr=True)


def _table(episodes: list[EpisodeResult], samples: int) -> Table:
    table = Table(title="episodes")
    columns = ["task"] + (["sample"] if samples > 1 else []) + ["steps", "exit status", "resolved", "cost"]
    for column in columns:
        table.add_column(column)
    for episode in episodes:
        row = [episode.instance_id] + ([str(episode.sample)] if samples > 1 else [])
        row += [
            str(episode.steps),
            episode.exit_status,
            "[green]yes[/green]" if episode.resolved else "[red]no[/red]",
            f"${episode.cost:.4f}",
        ]
        table.add_row(*row)
    return table


def run(
    config: Annotated[Path, typer.Argument(help="A run config (YAML), e.g. configs/demo.yaml.")],
    runtime: Annotated[str | None, typer.Option(help="docker, local (trusted tasks only) or auto.")] = None,
    output: Annotated[Path | None, typer.Option(help="Folder of run folders.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run folder; an existing one is resumed.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Episodes run at once.")] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Attempts per task (the report gives pass@1..K).")] = None,
    backend: Annotated[str | None, typer.Option(help="local (threads) or ray.")] = None,
    address: Annotated[str | None, typer.Option(help="Ray: a cluster to join; none starts a local one.")] = None,
    allow_config_change: Annotated[
        bool,
        typer.Option(
            "--allow-config-change",
            help="Resume a run folder although settings that change results differ from its config.json.",
        ),
    ] = False,
) -> None:
    """Run every task of CONFIG; write trajectories, predictions.jsonl and report.json.

    Ctrl-C (or SIGTERM) stops the run: the episodes in flight end as `interrupted`, their
    containers are removed, the run's files are written; running it again resumes. A second
    Ctrl-C exits at once."""
    if runtime is not None and runtime not in ("docker", "local", "auto"):
        raise typer.BadParameter("must be docker, local or auto", param_hint="--runtime")
    if backend is not None and backend not in ("local", "ray"):
        raise typer.BadParameter("must be local or ray", param_hint="--backend")
    try:
        loaded = load_config(
            config,
            runtime=runtime,
            output=str(output.resolve()) if output else None,
            run_id=run_id,
            workers=workers,
            samples=samples,
            backend=backend,
            address=address,
        )
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("resolved {task.fields[rate]}  cost ${task.fields[cost]:.4f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("episodes", total=None, rate="-", cost=0.0)
        tally = {"done": 0, "resolved": 0, "cost": 0.0}

        def started(finished: int, pending: int) -> None:
            progress.update(bar, total=finished + pending, completed=finished)
            if finished:
                console.print(f"resuming: {finished} episodes already finished, {pending} to run")

        def ended(result: EpisodeResult) -> None:
            tally["done"] += 1
            tally["resolved"] += int(result.resolved)
            tally["cost"] += result.cost
            rate = f"{tally['resolved']}/{tally['done']} ({100 * tally['resolved'] / tally['done']:.0f}%)"
            progress.update(bar, advance=1, rate=rate, cost=tally["cost"])

        try:
            with stop_on_signals(RunStop()) as stop:
                summary = run_config(
                    loaded,
                    config_name=config.stem,
                    on_episode=ended,
                    on_start=started,
                    stop=stop,
                    allow_config_change=allow_config_change,
                )
        except (ConfigChanged, ConfigError, LedgerError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except (TaskLoadError, RuntimeUnavailable, ValueError) as exc:  # ValueError: templates too
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

    if summary.config_changes:
        console.print("[yellow]resumed with a changed config:[/yellow] " + "; ".join(summary.config_changes))
    console.print(_table(summary.episodes, loaded.samples))
    report = summary.report
    line = f"resolved {report['resolved_instances']}/{report['total_instances']}; cost ${report['total_cost']:.4f}"
    if report["total_spent"] != report["total_cost"]:
        line += f" (${report['total_spent']:.4f} spent in all, with attempts that were run again)"
    if "pass_at_k" in report:
        line += "; " + ", ".join(f"pass@{k} {v:.2f}" for k, v in report["pass_at_k"].items())
    console.print(f"{line}; run folder: {summary.run_dir}")
    if summary.interrupted:
        stopped = sum(1 for e in summary.episodes if e.exit_status == "interrupted")
        console.print(
            f"[red]{summary.interrupted}:[/red] {stopped} episodes interrupted, {summary.not_started} not started; "
            "run the same command again to resume"
        )
        # Every file is written and closed. Threads blocked in a model call cannot be woken,
        # and tearing down an interpreter with litellm loaded takes seconds: exit now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stop.exit_code)
    failed = [e.instance_id for e in summary.episodes if e.exit_status == "env_error"]
    if failed:
        console.print(f"[red]episodes that could not run:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
