"""`agentenv feedback ...`: rating steps, comparing trajectories, critiques, failure tags."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentenv.feedback.models import POLARITIES, STEP_LABELS, WINNERS, FeedbackBase, FeedbackError, load_taxonomy
from agentenv.feedback.store import (
    FEEDBACK_DB,
    FeedbackStore,
    build_critique,
    build_preference,
    build_rating,
    build_tag,
    default_db_for,
)

app = typer.Typer(help="Record and export human feedback on trajectories.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()  # what the user asked to see (tables, confirmations) goes to stdout

R = TypeVar("R", bound=FeedbackBase)

Trajectory = Annotated[Path, typer.Argument(metavar="TRAJ", help="Trajectory file (.jsonl).", show_default=False)]
Db = Annotated[
    Path | None,
    typer.Option("--db", help="Feedback store. Default: feedback.sqlite in the (first) trajectory's folder."),
]
Annotator = Annotated[
    str | None,
    typer.Option(help="Who gives this feedback. Default: $AGENTENV_ANNOTATOR, else the OS user name."),
]
Reason = Annotated[str | None, typer.Option(help="Why, in a sentence.")]
RunDir = Annotated[
    Path | None, typer.Argument(metavar="RUN_DIR", help="Run folder holding feedback.sqlite.", show_default=False)
]
ReadDb = Annotated[Path | None, typer.Option("--db", help="Feedback store to read instead of RUN_DIR's.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    # soft_wrap: a long path stays on one line, whole and copyable.
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _reported() -> Iterator[None]:
    """Bad input is exit code 2 with the library's message; a store that stays locked is 1."""
    try:
        yield
    except FeedbackError as exc:
        _fail(str(exc))
    except sqlite3.Error as exc:
        _fail(f"the feedback store failed: {exc}", code=1)


def _record(build: Callable[[], R], db: Path | None, trajectory: Path) -> R:
    # Everything is checked before the store is opened: bad input leaves no file behind.
    with _reported():
        record = build()
        path = db or default_db_for(trajectory)
        with FeedbackStore(path) as store:
            stored = store.add(record)
    out.print(f"recorded {stored.kind} #{stored.id} in {escape(str(path))}", soft_wrap=True)
    return stored


@app.command("rate")
def rate(
    trajectory: Trajectory,
    step: Annotated[int, typer.Argument(metavar="STEP", help="0-based step index.", show_default=False)],
    label: Annotated[str, typer.Argument(metavar="LABEL", help=" | ".join(STEP_LABELS), show_default=False)],
    rewrite: Annotated[str | None, typer.Option(help="The action the step should have been.")] = None,
    reason: Reason = None,
    annotator: Annotator = None,
    db: Db = None,
) -> None:
    """Rate one step correct, incorrect or neutral, optionally with the action it should have been."""
    _record(
        lambda: build_rating(trajectory, step, label, rewrite=rewrite, reason=reason, annotator=annotator),
        db, trajectory,
    )


@app.command("prefer")
def prefer(
    trajectory_a: Annotated[Path, typer.Argument(metavar="TRAJ_A", help="One trajectory file.", show_default=False)],
    trajectory_b: Annotated[Path, typer.Argument(metavar="TRAJ_B", help="Another, of the same task.", show_default=False)],
    winner: Annotated[str, typer.Option(help=" | ".join(WINNERS), show_default=False)],
    reason: Reason = None,
    annotator: Annotator = None,
    db: Db = None,
) -> None:
    """Say which of two trajectories of the same task is better (or that neither is)."""
    _record(
        lambda: build_preference(trajectory_a, trajectory_b, winner, reason=reason, annotator=annotator),
        db, trajectory_a,
    )


@app.command("critique")
def critique(
    trajectory: Trajectory,
    positive: Annotated[str | None, typer.Option(help="What the trajectory did well.")] = None,
    negative: Annotated[str | None, typer.Option(help="What the trajectory did badly.")] = None,
    annotator: Annotator = None,
    db: Db = None,
) -> None:
    """Write a critique of a whole trajectory: exactly one of --positive or --negative."""
    if (positive is None) == (negative is None):
        _fail("give exactly one of --positive TEXT or --negative TEXT")
    polarity, text = ("positive", positive) if positive is not None else ("negative", negative)
    assert text is not None and polarity in POLARITIES
    _record(lambda: build_critique(trajectory, polarity, text, annotator=annotator), db, trajectory)


@app.command("tag")
def tag(
    trajectory: Trajectory,
    name: Annotated[str, typer.Argument(metavar="TAG", help="A failure tag of the taxonomy.", show_default=False)],
    reason: Reason = None,
    taxonomy: Annotated[Path | None, typer.Option(help="Taxonomy file. Default: configs/failure_tags.yaml.")] = None,
    annotator: Annotator = None,
    db: Db = None,
) -> None:
    """Tag a trajectory with a failure pattern (`agentenv feedback tags` lists them)."""
    _record(
        lambda: build_tag(trajectory, name, reason=reason, annotator=annotator, taxonomy=load_taxonomy(taxonomy)),
        db, trajectory,
    )


@app.command("tags")
def tags(
    taxonomy: Annotated[Path | None, typer.Option(help="Taxonomy file. Default: configs/failure_tags.yaml.")] = None,
) -> None:
    """List the failure tags of the taxonomy."""
    with _reported():
        known = load_taxonomy(taxonomy)
    table = Table(title="failure tags")
    table.add_column("tag", no_wrap=True)
    table.add_column("meaning", overflow="fold")
    for name, meaning in known.tags.items():
        table.add_row(name, escape(meaning))
    out.print(table)


def _open(run_dir: Path | None, db: Path | None) -> FeedbackStore:
    if (run_dir is None) == (db is None):
        _fail("give a run folder or --db PATH (one of them)")
    path = db if db is not None else run_dir / FEEDBACK_DB  # type: ignore[operator]
    if not path.is_file():
        _fail(f"no feedback store at {path}" + ("" if db else " (nothing recorded for this run yet)"))
    with _reported():
        return FeedbackStore(path, create=False)


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--out", help="JSON lines file to write.", show_default=False)],
    run_dir: RunDir = None,
    db: ReadDb = None,
) -> None:
    """Write every feedback record as JSON lines, each with its `kind`."""
    with _open(run_dir, db) as store, _reported():
        count = store.export_jsonl(output)
    out.print(f"wrote {count} feedback records to {escape(str(output))}", soft_wrap=True)


def _short(text: str | None, limit: int = 120) -> str:
    if text is None:
        return ""
    flat = " ".join(text.split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


# For each kind: its table's columns, as (header, value of a record).
_COLUMNS: dict[str, list[tuple[str, Callable[[Any], object]]]] = {
    "rating": [
        ("trajectory", lambda r: r.trajectory_id), ("step", lambda r: r.step), ("label", lambda r: r.label),
        ("rewrite", lambda r: r.rewrite), ("reason", lambda r: r.reason),
    ],
    "preference": [
        ("instance", lambda r: r.instance_id), ("a", lambda r: r.trajectory_a_id),
        ("b", lambda r: r.trajectory_b_id), ("winner", lambda r: r.winner), ("reason", lambda r: r.reason),
    ],
    "critique": [
        ("trajectory", lambda r: r.trajectory_id), ("polarity", lambda r: r.polarity), ("text", lambda r: r.text),
    ],
    "tag": [("trajectory", lambda r: r.trajectory_id), ("tag", lambda r: r.tag), ("reason", lambda r: r.reason)],
}


@app.command("ls")
def ls(run_dir: RunDir = None, db: ReadDb = None) -> None:
    """Show what is recorded: counts per kind, then the records."""
    with _open(run_dir, db) as store, _reported():
        counts = store.counts()
        records = store.records()
    out.print(f"feedback in {escape(str(store.path))}", soft_wrap=True)
    summary = Table(title="records per kind")
    summary.add_column("kind")
    summary.add_column("records", justify="right")
    for kind, count in counts.items():
        summary.add_row(kind, str(count))
    out.print(summary)
    for kind, columns in _COLUMNS.items():
        chosen = [r for r in records if r.kind == kind]
        if not chosen:
            continue
        table = Table(title=f"{kind}s")
        table.add_column("#", justify="right")
        for header, _ in columns:
            table.add_column(header, overflow="fold")
        table.add_column("annotator")
        table.add_column("at (UTC)", no_wrap=True)
        for record in chosen:
            values = [_short(None if (v := get(record)) is None else str(v)) for _, get in columns]
            table.add_row(str(record.id), *values, escape(record.annotator), record.created_at[:19])
        out.print(table)
