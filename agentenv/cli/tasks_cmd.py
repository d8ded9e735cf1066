"""`agentenv tasks ...`: checking task sets."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agentenv.cli.common import runtime_starters
from agentenv.grading.validate import ValidationResult, validate_task
from agentenv.tasks.loader import TaskLoadError, load_tasks

app = typer.Typer(help="Check and describe task sets.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("validate")
def validate(
    tasks: Annotated[Path, typer.Argument(help="Task folder or file.")],
    runs: Annotated[int, typer.Option(min=1, help="Runs of each side; a status that changes is flaky.")] = 2,
    output: Annotated[Path | None, typer.Option(help="Write the results as JSON here.")] = None,
    runtime: Annotated[str, typer.Option(help="docker, local (trusted tasks only) or auto.")] = "docker",
    workers: Annotated[int, typer.Option(min=1, help="Tasks validated at once.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds the test command may take.")] = 1800.0,
) -> None:
    """Check that each task's reference patch resolves it, its FAIL_TO_PASS tests fail without
    it, its PASS_TO_PASS tests pass before and after, and no test is flaky."""
    try:
        task_list = load_tasks(tasks)
    except TaskLoadError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    starter = runtime_starters(runtime)

    def check(task) -> ValidationResult:  # type: ignore[no-untyped-def]
        start, _ = starter(task)
        return validate_task(task, start, runs=runs, timeout=timeout)

    with console.status(f"validating {len(task_list)} tasks ({runs} runs each)"):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(check, task_list))
    table = Table(title="task validation")
    for column in ("task", "valid", "flaky", "reason"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.instance_id,
            "[green]yes[/green]" if result.valid else "[red]no[/red]",
            str(len(result.flaky)),
            "; ".join(result.reasons),
        )
    console.print(table)
    if output is not None:
        output.write_text(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n")
    invalid = [r.instance_id for r in results if not r.valid]
    console.print(f"{len(results) - len(invalid)} of {len(results)} tasks are valid")
    if invalid:
        raise typer.Exit(1)
