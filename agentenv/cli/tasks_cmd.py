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
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.runtime.images import ImageBuildError
from agentenv.tasks.catalog import (
    ManifestError,
    ValidationRecord,
    check_manifests,
    now_utc,
    read_manifest,
    read_manifests,
    readable_task_digest,
    record_validation,
    rows,
    stats,
)
from agentenv.tasks.loader import TaskLoadError, load_tasks
from agentenv.tasks.model import Task
from agentenv.tasks.pypi import PypiSourceError
from agentenv.tasks.repo import RepoSourceError

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
    record: Annotated[
        bool, typer.Option("--record", help="Write the results into each set's manifest.yaml (shown by `tasks ls`).")
    ] = False,
) -> None:
    """Check that each task's reference patch resolves it, its FAIL_TO_PASS tests fail without
    it, its PASS_TO_PASS tests pass before and after, and no test is flaky."""
    try:
        task_list = load_tasks(tasks)
        if record:  # a manifest that cannot be written to is found now, not after the work
            check_manifests(tasks)
    except (TaskLoadError, ManifestError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    starter = runtime_starters(runtime)

    def check(task: Task) -> ValidationResult:
        try:
            start, _ = starter(task)
        except (ImageBuildError, RepoSourceError, PypiSourceError) as exc:
            # One task whose environment cannot be made does not stop the others.
            return ValidationResult(
                instance_id=task.instance_id, valid=False, runs=0, reasons=[f"its environment cannot be made: {exc}"]
            )
        return validate_task(task, start, runs=runs, timeout=timeout)

    try:
        with console.status(f"validating {len(task_list)} tasks ({runs} runs each)"):
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(check, task_list))
    except RuntimeUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
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
    if record:
        checked_at = now_utc()
        records = {
            task.instance_id: ValidationRecord(
                valid=result.valid,
                runs=result.runs,
                checked_at=checked_at,
                reasons=result.reasons,
                task_digest=readable_task_digest(task),
            )
            for task, result in zip(task_list, results, strict=True)
        }
        try:
            for manifest in record_validation(tasks, records):
                console.print(f"recorded in {manifest}")
        except ManifestError as exc:
            console.print(f"[red]error:[/red] not recorded: {exc}")
            raise typer.Exit(2) from None
    invalid = [r.instance_id for r in results if not r.valid]
    console.print(f"{len(results) - len(invalid)} of {len(results)} tasks are valid")
    if invalid:
        raise typer.Exit(1)


@app.command("ls")
def ls(tasks: Annotated[Path, typer.Argument(help="Task folder or file.")]) -> None:
    """A table of the tasks: package, metadata, test counts (FAIL_TO_PASS/PASS_TO_PASS) and
    the validation status their manifests record."""
    try:
        task_list = load_tasks(tasks, hidden_test_patches=False)  # describing needs no index
    except TaskLoadError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        listing = rows(task_list, read_manifests(tasks))
    except (ManifestError, TaskLoadError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"{len(listing)} tasks in {tasks}")
    for column in listing[0]:
        table.add_column(column, overflow="fold")
    for row in listing:
        table.add_row(*row.values())
    Console().print(table)


@app.command("stats")
def stats_command(tasks: Annotated[Path, typer.Argument(help="Task folder or file.")]) -> None:
    """Counts by package, taxonomy, difficulty and language."""
    try:
        task_list = load_tasks(tasks, hidden_test_patches=False)  # describing needs no index
    except TaskLoadError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out = Console()
    out.print(f"{len(task_list)} tasks in {tasks}")
    for dimension, counts in stats(task_list).items():
        table = Table(title=f"by {dimension}")
        table.add_column(dimension)
        table.add_column("tasks", justify="right")
        for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            table.add_row(value, str(count))
        out.print(table)


@app.command("synth")
def synth(
    source: Annotated[str, typer.Argument(help="pypi:NAME==VERSION")],
    out: Annotated[Path, typer.Option(help="Folder to write the task specs into.")],
    n: Annotated[int, typer.Option(min=1, help="Tasks to make.")] = 5,
    seed: Annotated[int, typer.Option(help="Chooses and orders the mutations tried.")] = 0,
    max_tries: Annotated[int | None, typer.Option(help="Mutations to try at most (default 8 x n).")] = None,
    install: Annotated[list[str] | None, typer.Option(help="Install commands (repeat; default: pip install -e . and pytest).")] = None,
    test_cmd: Annotated[str | None, typer.Option(help="The test command (pytest with -rA).")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Validation runs of each task.")] = 1,
) -> None:
    """Make tasks from a real package: inject bugs its own tests notice, one per task."""
    from agentenv.synth.pipeline import Recipe, SynthError, synthesize
    from agentenv.synth.record import record_synthesis

    recipe = Recipe(source=source, test_cmd=test_cmd, **({"install": install} if install else {}))
    try:
        read_manifest(out)  # a manifest that cannot be recorded into is found now, not after the work
    except ManifestError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        report = synthesize(recipe, out, n=n, seed=seed, max_tries=max_tries, validate_runs=runs, progress=console.print)
    except (SynthError, PypiSourceError, RuntimeUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    record_synthesis(out, recipe, report, runs=runs, seed=seed)
    console.print(
        f"{len(report.kept)} tasks written to {out} ({report.tried} mutations tried; "
        f"{report.baseline_passing} tests pass at baseline; rejected: {report.rejected or 'none'}; invalid: {len(report.invalid)})"
    )
    if not report.kept:
        raise typer.Exit(1)


@app.command("from-releases")
def from_releases(
    old: Annotated[str, typer.Argument(help="pypi:NAME==OLD, the release with the bug (the base).")],
    new: Annotated[str, typer.Argument(help="pypi:NAME==NEW, the next release, whose changes fix it and test it.")],
    out: Annotated[Path, typer.Option(help="Folder to write the task spec into (its manifest records the pair).")],
    install: Annotated[list[str] | None, typer.Option(help="Install commands (repeat; default: pip install -e . and pytest).")] = None,
    test_cmd: Annotated[str | None, typer.Option(help="The test command (pytest with -rA); the new test modules are appended.")] = None,
    statement: Annotated[str, typer.Option(help="auto (release notes if any), release-notes or failing-tests.")] = "auto",
    allow_gap: Annotated[bool, typer.Option("--allow-gap", help="Accept releases between OLD and NEW.")] = False,
    runs: Annotated[int, typer.Option(min=1, help="Validation runs of the task.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds the test command may take.")] = 300.0,
) -> None:
    """Make a task from a real bug fix: OLD's sdist is the base, the package changes of NEW the
    reference patch, its test changes the hidden tests."""
    from pydantic import ValidationError

    from agentenv.files import describe_validation
    from agentenv.synth.release_diff import ReleaseDiffError
    from agentenv.synth.release_manifest import record_pair
    from agentenv.synth.releases import ReleasePair, ReleasePairError, task_from_releases
    from agentenv.synth.spec_file import SpecWriteError

    options = {"install": install} if install else {}
    options |= {"test_cmd": test_cmd} if test_cmd else {}
    try:
        pair = ReleasePair(old=old, new=new, statement=statement, allow_gap=allow_gap, test_timeout=timeout, **options)
        read_manifest(out)  # a manifest that cannot be recorded into is found now, not after the work
        record = task_from_releases(pair, out, runs=runs, progress=console.print)
    except ValidationError as exc:
        console.print(f"[red]error:[/red] {describe_validation(exc, prefix='option ')}")
        raise typer.Exit(2) from None
    except (ManifestError, ReleasePairError, ReleaseDiffError, SpecWriteError, PypiSourceError, RuntimeUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    record_pair(out, record, runs=runs)
    if record.task is None:
        console.print(f"no task from {old} -> {new}: {record.rejected}")
        raise typer.Exit(1)
    console.print(
        f"wrote {out / record.task}.yaml: {record.fail_to_pass} FAIL_TO_PASS, {record.pass_to_pass} PASS_TO_PASS; "
        f"patch: {', '.join(record.patch_files)}; tests: {', '.join(record.test_files)}; "
        f"left out: {', '.join(f'{d.path} ({d.reason})' for d in record.dropped) or 'nothing'}"
    )
