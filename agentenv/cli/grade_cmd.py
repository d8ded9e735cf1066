"""`agentenv grade`: SWE-bench-format predictions in, SWE-bench-format reports out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentenv.cli.common import runtime_starters
from agentenv.grading.batch import GOLD, InstanceOutcome, PredictionError, gold_predictions, grade_predictions, load_predictions
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.tasks.loader import TaskLoadError, load_tasks
from agentenv.trajectory.model import timestamped_run_id

console = Console(stderr=True)


def grade(
    tasks: Annotated[Path, typer.Option(help="Task folder or file (YAML, or SWE-bench JSONL).")],
    predictions: Annotated[str, typer.Option(help="Predictions (.jsonl, or .json list/dict), or `gold` for the reference patches.")],
    output: Annotated[Path, typer.Option(help="Folder of grading runs.")] = Path("grades"),
    run_id: Annotated[str | None, typer.Option(help="Name of this grading run.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Patches graded at once.")] = 1,
    runtime: Annotated[str, typer.Option(help="docker, local (trusted tasks only) or auto.")] = "docker",
    timeout: Annotated[float, typer.Option(help="Seconds the test command may take.")] = 1800.0,
    swebench_semantics: Annotated[bool, typer.Option(help="Count a skipped PASS_TO_PASS test as kept, as SWE-bench does.")] = False,
) -> None:
    """Grade predictions against the hidden tests; write report.json files and a summary."""
    try:
        task_list = load_tasks(tasks)
        chosen = gold_predictions(task_list) if predictions == GOLD else load_predictions(predictions)
    except (TaskLoadError, PredictionError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    run_id = run_id or timestamped_run_id("grade")
    run_dir = output / run_id
    outcomes: list[InstanceOutcome] = []
    with Progress(
        TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
        TextColumn("resolved {task.fields[resolved]}"), TimeElapsedColumn(), console=console,
    ) as progress:
        bar = progress.add_task("grading", total=len(chosen), resolved=0)

        def record(outcome: InstanceOutcome) -> None:
            outcomes.append(outcome)
            progress.update(bar, advance=1, resolved=sum(o.report.resolved for o in outcomes))

        try:
            summary = grade_predictions(
                task_list, chosen, starters=runtime_starters(runtime), run_dir=run_dir, workers=workers,
                timeout=timeout, strict=not swebench_semantics, on_result=record,
            )
        except (PredictionError, RuntimeUnavailable, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None

    table = Table(title=f"grading run {run_id}")
    for column in ("instance", "applied", "resolved", "F2P", "P2P", "note"):
        table.add_column(column)
    for outcome in sorted(outcomes, key=lambda o: o.instance_id):
        report = outcome.report
        status = report.tests_status
        note = report.error or report.log_problem or report.apply_failure or ("cached" if outcome.cached else "")
        table.add_row(
            outcome.instance_id,
            "yes" if report.patch_successfully_applied else "no",
            "[green]yes[/green]" if report.resolved else "[red]no[/red]",
            f"{len(status.FAIL_TO_PASS.success)}/{len(status.FAIL_TO_PASS.success) + len(status.FAIL_TO_PASS.failure)}" if status else "-",
            f"{len(status.PASS_TO_PASS.success)}/{len(status.PASS_TO_PASS.success) + len(status.PASS_TO_PASS.failure)}" if status else "-",
            note[:80],
        )
    console.print(table)
    console.print(
        f"resolved {summary.resolved_instances} of {summary.submitted_instances} submitted "
        f"({summary.total_instances} tasks); errors {summary.error_instances}; report: {run_dir / 'report.json'}"
    )
