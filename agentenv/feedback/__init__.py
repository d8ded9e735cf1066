"""Human feedback on trajectories: step ratings (with rewrites), pairwise preferences,
critiques and failure tags, kept in a SQLite store next to the run."""

from agentenv.feedback.models import (
    FEEDBACK_SCHEMA_VERSION,
    Critique,
    FailureTag,
    FeedbackError,
    FeedbackRecord,
    Preference,
    StepRating,
    Taxonomy,
    load_taxonomy,
    read_feedback_jsonl,
)
from agentenv.feedback.store import (
    FEEDBACK_DB,
    FeedbackStore,
    build_critique,
    build_preference,
    build_rating,
    build_tag,
    default_annotator,
    default_db_for,
)

__all__ = [
    "FEEDBACK_DB",
    "FEEDBACK_SCHEMA_VERSION",
    "Critique",
    "FailureTag",
    "FeedbackError",
    "FeedbackRecord",
    "FeedbackStore",
    "Preference",
    "StepRating",
    "Taxonomy",
    "build_critique",
    "build_preference",
    "build_rating",
    "build_tag",
    "default_annotator",
    "default_db_for",
    "load_taxonomy",
    "read_feedback_jsonl",
]
