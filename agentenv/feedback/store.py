"""The feedback store: one SQLite file in WAL mode (by default `feedback.sqlite` in the run
folder), one table per kind of record.

Recording is two stages. `build_*` reads the trajectory and validates everything, touching no
store; `FeedbackStore.add` writes one already valid record in one short transaction. So bad
input never leaves half a record, nor even an empty database, behind.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from agentenv.feedback.models import (
    RECORD_TYPES,
    Critique,
    FailureTag,
    FeedbackBase,
    FeedbackError,
    FeedbackRecord,
    Preference,
    StepRating,
    Taxonomy,
    kind_of,
    load_taxonomy,
)
from agentenv.files import describe_validation
from agentenv.trajectory.model import now
from agentenv.trajectory.recorder import Trajectory, TrajectoryError, read_trajectory

FEEDBACK_DB = "feedback.sqlite"
ANNOTATOR_ENV = "AGENTENV_ANNOTATOR"
# SQLite's own wait for a lock; tenacity's retries cover what that wait does not (a lock held
# past it, or SQLITE_BUSY returned without waiting, as during WAL recovery).
BUSY_TIMEOUT_MS = 10_000

R = TypeVar("R", bound=FeedbackBase)

_TRAJECTORY_COLUMNS = """
    trajectory_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    trajectory_path TEXT NOT NULL,"""
_COMMON_COLUMNS = """
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_version INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    created_at TEXT NOT NULL,"""

# MIGRATIONS[n] takes a store from schema version n to n + 1. Its statements run one by one in
# one transaction (executescript would commit half-way through a migration).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE ratings ({_COMMON_COLUMNS}{_TRAJECTORY_COLUMNS}
            step INTEGER NOT NULL CHECK (step >= 0),
            label TEXT NOT NULL CHECK (label IN ('correct', 'incorrect', 'neutral')),
            rewrite TEXT,
            reason TEXT)""",
        "CREATE INDEX ratings_by_trajectory ON ratings (trajectory_id, step)",
        f"""CREATE TABLE preferences ({_COMMON_COLUMNS}
            instance_id TEXT NOT NULL,
            trajectory_a_id TEXT NOT NULL,
            run_a_id TEXT NOT NULL,
            trajectory_a_path TEXT NOT NULL,
            trajectory_b_id TEXT NOT NULL,
            run_b_id TEXT NOT NULL,
            trajectory_b_path TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
            reason TEXT)""",
        "CREATE INDEX preferences_by_instance ON preferences (instance_id)",
        f"""CREATE TABLE critiques ({_COMMON_COLUMNS}{_TRAJECTORY_COLUMNS}
            polarity TEXT NOT NULL CHECK (polarity IN ('positive', 'negative')),
            text TEXT NOT NULL)""",
        "CREATE INDEX critiques_by_trajectory ON critiques (trajectory_id)",
        f"""CREATE TABLE tags ({_COMMON_COLUMNS}{_TRAJECTORY_COLUMNS}
            tag TEXT NOT NULL,
            reason TEXT)""",
        "CREATE INDEX tags_by_trajectory ON tags (trajectory_id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_for(trajectory_path: str | Path) -> Path:
    """The store of a trajectory's run: `feedback.sqlite` in the folder holding the file."""
    return Path(trajectory_path).resolve().parent / FEEDBACK_DB


def default_annotator() -> str:
    """`$AGENTENV_ANNOTATOR`, else the OS user name."""
    named = os.environ.get(ANNOTATOR_ENV, "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return "unknown"


# --- building records: every check happens here, before any store is opened --------------


def _load(path: str | Path) -> tuple[Trajectory, str]:
    try:
        trajectory = read_trajectory(path)
    except TrajectoryError as exc:
        raise FeedbackError(str(exc)) from None
    return trajectory, str(Path(path).resolve())


def _about(trajectory: Trajectory, resolved: str) -> dict[str, str]:
    header = trajectory.header
    return {
        "trajectory_id": header.trajectory_id,
        "instance_id": header.instance_id,
        "run_id": header.run_id,
        "trajectory_path": resolved,
    }


def _make(model: type[R], annotator: str | None, **fields: Any) -> R:
    fields["annotator"] = default_annotator() if annotator is None else annotator
    try:
        return model(**fields)
    except ValidationError as exc:
        raise FeedbackError(f"invalid {kind_of(model)}: {describe_validation(exc)}") from None


def build_rating(
    trajectory: str | Path, step: int, label: str, *,
    rewrite: str | None = None, reason: str | None = None, annotator: str | None = None,
) -> StepRating:
    loaded, resolved = _load(trajectory)
    rating = _make(
        StepRating, annotator, **_about(loaded, resolved), step=step, label=label, rewrite=rewrite, reason=reason
    )
    count = len(loaded.steps)
    if step >= count:
        have = f"{count} steps (0-{count - 1})" if count else "no steps"
        raise FeedbackError(f"{trajectory}: no step {step}: the trajectory has {have}")
    return rating


def build_preference(
    trajectory_a: str | Path, trajectory_b: str | Path, winner: str, *,
    reason: str | None = None, annotator: str | None = None,
) -> Preference:
    a, a_path = _load(trajectory_a)
    b, b_path = _load(trajectory_b)
    if a_path == b_path or a.header.trajectory_id == b.header.trajectory_id:
        raise FeedbackError(f"a trajectory cannot be compared with itself: {trajectory_a} and {trajectory_b}")
    if a.header.instance_id != b.header.instance_id:
        # A preference is a claim about two attempts at the same task; across tasks it is noise.
        raise FeedbackError(
            "both trajectories must be of the same instance: "
            f"{trajectory_a} is {a.header.instance_id!r}, {trajectory_b} is {b.header.instance_id!r}"
        )
    return _make(
        Preference, annotator, instance_id=a.header.instance_id,
        trajectory_a_id=a.header.trajectory_id, run_a_id=a.header.run_id, trajectory_a_path=a_path,
        trajectory_b_id=b.header.trajectory_id, run_b_id=b.header.run_id, trajectory_b_path=b_path,
        winner=winner, reason=reason,
    )


def build_critique(trajectory: str | Path, polarity: str, text: str, *, annotator: str | None = None) -> Critique:
    loaded, resolved = _load(trajectory)
    return _make(Critique, annotator, **_about(loaded, resolved), polarity=polarity, text=text)


def build_tag(
    trajectory: str | Path, tag: str, *, reason: str | None = None,
    annotator: str | None = None, taxonomy: Taxonomy | None = None,
) -> FailureTag:
    (taxonomy or load_taxonomy()).check(tag)
    loaded, resolved = _load(trajectory)
    return _make(FailureTag, annotator, **_about(loaded, resolved), tag=tag, reason=reason)


# --- the store -----------------------------------------------------------------------------


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in ("locked", "busy")
    )


# Bounded: after this many tries (each waiting up to the busy timeout) a lock is a stuck
# process, and its "database is locked" reaches the caller.
_retry_locked = retry(
    retry=retry_if_exception(_is_locked),
    stop=stop_after_attempt(10),
    wait=wait_random_exponential(multiplier=0.05, max=2.0),
    reraise=True,
)


class FeedbackStore:
    """Feedback records in one SQLite file. Safe to write from many processes at once.

    Use as a context manager, or call `close()`. `create=False` refuses to make a new file
    (for readers: a missing store is a mistake, not an empty one).
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FeedbackError(f"{self.path}: no feedback store there")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), not the module's.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise FeedbackError(f"{self.path}: cannot be opened: {exc}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._set_up()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if _is_locked(exc):
                raise
            raise FeedbackError(f"{self.path}: not a usable feedback store: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    def _set_up(self) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Switching to WAL needs a moment of exclusive access: retried like any write.
        mode = _retry_locked(self._db.execute)("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise FeedbackError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); is it on a network file system?")
        # In WAL mode FULL syncs each commit: a recorded judgement survives a power cut.
        self._db.execute("PRAGMA synchronous = FULL")
        if _retry_locked(self.schema_version)() != SCHEMA_VERSION:
            self._migrate()

    def schema_version(self) -> int:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if not exists:
            return 0
        return int(self._db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    @_retry_locked
    def _migrate(self) -> None:
        with self._transaction():
            # Read again under the write lock: another process may have migrated meanwhile.
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise FeedbackError(
                    f"{self.path}: schema version {current} is newer than this agentenv's ({SCHEMA_VERSION})"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version VALUES (?, ?)", (version + 1, now()))

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so SQLite's busy wait applies; a deferred
        # transaction that upgrades to writing fails at once when another writer got there first.
        self._db.execute(begin)
        try:
            yield
            self._db.execute("COMMIT")
        finally:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    # --- writing ---

    @_retry_locked
    def _insert(self, table: str, row: dict[str, Any]) -> int:
        # Table and column names come from the models, never from input.
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._transaction():
            cursor = self._db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add(self, record: R) -> R:
        """Store one record (a new row, whatever its `id`); return it with its row id."""
        checked = type(record).model_validate(record.model_dump())
        row_id = self._insert(checked.table, checked.model_dump(exclude={"id", "kind"}))
        return checked.model_copy(update={"id": row_id})

    def rate(
        self, trajectory: str | Path, step: int, label: str, *,
        rewrite: str | None = None, reason: str | None = None, annotator: str | None = None,
    ) -> StepRating:
        return self.add(build_rating(trajectory, step, label, rewrite=rewrite, reason=reason, annotator=annotator))

    def prefer(
        self, trajectory_a: str | Path, trajectory_b: str | Path, winner: str, *,
        reason: str | None = None, annotator: str | None = None,
    ) -> Preference:
        return self.add(build_preference(trajectory_a, trajectory_b, winner, reason=reason, annotator=annotator))

    def critique(self, trajectory: str | Path, polarity: str, text: str, *, annotator: str | None = None) -> Critique:
        return self.add(build_critique(trajectory, polarity, text, annotator=annotator))

    def tag(
        self, trajectory: str | Path, tag: str, *, reason: str | None = None,
        annotator: str | None = None, taxonomy: Taxonomy | None = None,
    ) -> FailureTag:
        return self.add(build_tag(trajectory, tag, reason=reason, annotator=annotator, taxonomy=taxonomy))

    # --- reading ---

    def _select(self, model: type[R], column: str | None = None, value: str | None = None) -> list[R]:
        where, params = (f"WHERE {column} = ?", (value,)) if column and value is not None else ("", ())
        rows = self._db.execute(f"SELECT * FROM {model.table} {where} ORDER BY id", params).fetchall()
        return [self._row(model, row) for row in rows]

    def _row(self, model: type[R], row: sqlite3.Row) -> R:
        try:
            return model.model_validate(dict(row))
        except ValidationError as exc:
            raise FeedbackError(f"{self.path}: {model.table} row {row['id']}: {describe_validation(exc)}") from None

    @_retry_locked
    def ratings(self, trajectory_id: str | None = None) -> list[StepRating]:
        """Step ratings (rewrites included), oldest first; all, or one trajectory's."""
        return self._select(StepRating, "trajectory_id", trajectory_id)

    @_retry_locked
    def preferences(self, instance_id: str | None = None) -> list[Preference]:
        return self._select(Preference, "instance_id", instance_id)

    @_retry_locked
    def critiques(self, trajectory_id: str | None = None) -> list[Critique]:
        return self._select(Critique, "trajectory_id", trajectory_id)

    @_retry_locked
    def tags(self, trajectory_id: str | None = None) -> list[FailureTag]:
        return self._select(FailureTag, "trajectory_id", trajectory_id)

    @_retry_locked
    def records(self) -> list[FeedbackRecord]:
        """Every record, kind by kind, from one consistent snapshot of the store."""
        with self._transaction("BEGIN DEFERRED"):
            return [record for model in RECORD_TYPES for record in self._select(model)]

    @_retry_locked
    def counts(self) -> dict[str, int]:
        """How many records of each kind ("rating", "preference", "critique", "tag")."""
        with self._transaction("BEGIN DEFERRED"):
            return {
                kind_of(model): int(self._db.execute(f"SELECT COUNT(*) FROM {model.table}").fetchone()[0])
                for model in RECORD_TYPES
            }

    def export_jsonl(self, out: str | Path) -> int:
        """Write every record as one JSON line (with its `kind`); return how many."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        records = self.records()
        # Written aside and renamed, so a reader never sees half an export.
        partial = out.with_name(out.name + ".partial")
        with open(partial, "w", encoding="utf-8") as file:
            for record in records:
                file.write(record.model_dump_json() + "\n")
        os.replace(partial, out)
        return len(records)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

