"""Feedback records: what a grader said about a step, a pair of trajectories, or one trajectory.

Each record names its trajectory the way the trajectory names itself (`trajectory_id`,
`run_id`, `instance_id`) and by its resolved file path, so that an exporter can find the steps
again without guessing. Records are append-only: rating a step twice keeps both ratings.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from agentenv.files import bundled_dir, describe_validation, read_yaml
from agentenv.trajectory.model import now

FEEDBACK_SCHEMA_VERSION = 1
TAXONOMY_FILE = "failure_tags.yaml"

StepLabel = Literal["correct", "incorrect", "neutral"]
Winner = Literal["a", "b", "tie"]
Polarity = Literal["positive", "negative"]

STEP_LABELS: tuple[str, ...] = get_args(StepLabel)
WINNERS: tuple[str, ...] = get_args(Winner)
POLARITIES: tuple[str, ...] = get_args(Polarity)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


# Text a person typed: an empty rewrite or reason is a slip, not something to train on.
Text = Annotated[str, AfterValidator(_not_blank)]

_TAG_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class FeedbackError(ValueError):
    """Feedback that cannot be recorded (or a store or taxonomy that cannot be read); the
    message names what is wrong. Nothing has been written when it is raised."""


def _utc_iso(value: str) -> str:
    """Accept only ISO 8601 times in UTC: a naive or shifted time would sort wrongly next to
    the others in the store."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.utcoffset() != timedelta(0):
        raise ValueError(f"not a UTC time: {value!r}")
    return value


class FeedbackBase(BaseModel):
    """What every record has: who said it, when, and (once stored) its row id."""

    # Unlike trajectory records, feedback rows map onto fixed table columns: an unknown key
    # is a mistake, not a newer writer's extension.
    model_config = ConfigDict(extra="forbid")

    table: ClassVar[str]

    kind: str  # each kind narrows it to its own Literal: "rating", "preference", ...
    schema_version: int = FEEDBACK_SCHEMA_VERSION
    id: int | None = None  # the row id, once stored
    annotator: Text
    created_at: str = Field(default_factory=now)

    @field_validator("created_at")
    @classmethod
    def _created_at_is_utc(cls, value: str) -> str:
        return _utc_iso(value)


class _OneTrajectory(FeedbackBase):
    trajectory_id: str
    instance_id: str
    run_id: str
    trajectory_path: str


class StepRating(_OneTrajectory):
    """One step judged correct, incorrect or neutral; `rewrite` is the action it should have
    been (process supervision)."""

    table: ClassVar[str] = "ratings"
    kind: Literal["rating"] = "rating"
    step: Annotated[int, Field(ge=0)]
    label: StepLabel
    rewrite: Text | None = None
    reason: Text | None = None


class Preference(FeedbackBase):
    """Two trajectories of the same task, and which one is better."""

    table: ClassVar[str] = "preferences"
    kind: Literal["preference"] = "preference"
    instance_id: str
    trajectory_a_id: str
    run_a_id: str
    trajectory_a_path: str
    trajectory_b_id: str
    run_b_id: str
    trajectory_b_path: str
    winner: Winner
    reason: Text | None = None

    @property
    def chosen_path(self) -> str | None:
        """The preferred trajectory's file; None for a tie."""
        return {"a": self.trajectory_a_path, "b": self.trajectory_b_path}.get(self.winner)

    @property
    def rejected_path(self) -> str | None:
        return {"a": self.trajectory_b_path, "b": self.trajectory_a_path}.get(self.winner)


class Critique(_OneTrajectory):
    """Free text about a whole trajectory: what it did well, or badly."""

    table: ClassVar[str] = "critiques"
    kind: Literal["critique"] = "critique"
    polarity: Polarity
    text: Text


class FailureTag(_OneTrajectory):
    """A failure pattern from the taxonomy, attached to a trajectory."""

    table: ClassVar[str] = "tags"
    kind: Literal["tag"] = "tag"
    tag: str
    reason: Text | None = None


FeedbackRecord = Annotated[StepRating | Preference | Critique | FailureTag, Field(discriminator="kind")]
FEEDBACK_RECORD = TypeAdapter(FeedbackRecord)
RECORD_TYPES: tuple[type[FeedbackBase], ...] = (StepRating, Preference, Critique, FailureTag)


def kind_of(model: type[FeedbackBase]) -> str:
    return str(model.model_fields["kind"].default)


class Taxonomy(BaseModel):
    """The failure tags a grader may use, each with a one-line description."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    tags: dict[str, str]

    @field_validator("tags")
    @classmethod
    def _names_are_kebab_case(cls, tags: dict[str, str]) -> dict[str, str]:
        if not tags:
            raise ValueError("no tags declared")
        bad = [name for name in tags if not _TAG_NAME.match(name)]
        if bad:
            raise ValueError(f"tag names must be kebab-case (like wrong-file): {', '.join(bad)}")
        return tags

    def check(self, tag: str) -> str:
        if tag not in self.tags:
            raise FeedbackError(f"unknown failure tag {tag!r}; known tags: {', '.join(sorted(self.tags))}")
        return tag



def builtin_taxonomy_path() -> Path:
    """`configs/failure_tags.yaml` of a source checkout, or the copy packed into a wheel."""
    path = bundled_dir("configs") / TAXONOMY_FILE
    if not path.is_file():
        raise FeedbackError(f"no {path}; pass a taxonomy file")
    return path


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a failure-tag taxonomy (default: the built-in one)."""
    path = Path(path) if path is not None else builtin_taxonomy_path()
    raw = read_yaml(path, FeedbackError)
    try:
        return Taxonomy.model_validate(raw)
    except ValidationError as exc:
        raise FeedbackError(f"{path}: {describe_validation(exc)}") from None


def read_feedback_jsonl(path: str | Path) -> list[FeedbackRecord]:
    """Load an export back into the models; errors name the file, line and field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FeedbackError(f"{path}: cannot be read: {exc.strerror}") from exc
    records: list[FeedbackRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(FEEDBACK_RECORD.validate_python(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise FeedbackError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        except ValidationError as exc:
            raise FeedbackError(f"{path}:{number}: {describe_validation(exc)}") from None
    return records

