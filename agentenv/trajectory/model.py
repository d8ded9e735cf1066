"""The trajectory file: `trajectories/<run_id>/<instance_id>.jsonl`.

One JSON object per line: a `header` (what ran: task, config, agent, model, seed, versions),
one `step` per env step (appended and flushed as it happens), and a `footer` (how it ended:
exit status, submitted patch, grade). A file without a footer is an episode that did not
finish (a killed run); a resumed run redoes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TRAJECTORY_SCHEMA_VERSION = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def timestamped_run_id(prefix: str) -> str:
    """`prefix-YYYYmmdd-HHMMSS` (UTC): the run id when none is given."""
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


class _Record(BaseModel):
    # Unknown keys are kept: a newer writer's extra fields survive an older reader.
    model_config = ConfigDict(extra="allow")

    schema_version: int = TRAJECTORY_SCHEMA_VERSION


class ModelCall(BaseModel):
    """What an LLM agent sent and got back for one step."""

    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(default_factory=list)
    response: dict[str, Any] | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    cost: float = 0.0


class AgentInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    model: str | None = None


class BranchOrigin(BaseModel):
    """Where a branched trajectory came from: its parent, and the step it was rewritten at."""

    model_config = ConfigDict(extra="allow")

    trajectory_id: str
    path: str
    step: int  # steps 0..step-1 are the parent's; step `step` is the new action


class TrajectoryHeader(_Record):
    record: Literal["header"] = "header"
    run_id: str
    instance_id: str
    # Unique across runs: "<run_id>/<instance_id>", with a suffix for samples and branches.
    trajectory_id: str = ""
    # Which attempt at the task this is, when a run takes several samples per task.
    sample: int = 0
    task: dict[str, Any]
    config: dict[str, Any] = Field(default_factory=dict)
    agent: AgentInfo
    seed: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    runtime: str
    image: str | None = None
    base_commit: str | None = None
    initial_observation: str
    # The commands' OpenAI function schemas, as offered to the agent (for SFT exports).
    tools: list[dict[str, Any]] = Field(default_factory=list)
    parent: BranchOrigin | None = None
    # Where the trajectory came from when it was imported (e.g. "swe-agent", "mini-swe-agent").
    source: str | None = None
    started_at: str = Field(default_factory=now)

    @model_validator(mode="after")
    def _default_id(self) -> TrajectoryHeader:
        if not self.trajectory_id:
            self.trajectory_id = f"{self.run_id}/{self.instance_id}"
        return self


class StepRecord(_Record):
    record: Literal["step"] = "step"
    index: int  # 0-based
    action: str
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    # exit code, parsed command, structured execution outcome, test results, lint, grade ...
    info: dict[str, Any] = Field(default_factory=dict)
    thought: str | None = None
    model_call: ModelCall | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    timestamp: str = Field(default_factory=now)


# How episodes end (the footer's `exit_status`; importers keep other tools' own statuses).
# `interrupted`: the run stopped (a signal, or its process died) during the episode; it is run
# again on resume, as are env_error, model_error, auth_error and run_cost_limit
# (rollout/jobs.py says why).
ExitStatus = Literal[
    "submitted", "max_steps", "agent_error", "env_error", "interrupted", "cost_limit", "call_limit",
    "run_cost_limit", "format_error", "auth_error", "context_window", "model_error", "branch_stopped",
]


class TrajectoryFooter(_Record):
    record: Literal["footer"] = "footer"
    exit_status: str
    steps: int
    submission: str | None = None
    grade: dict[str, Any] | None = None
    resolved: bool = False
    total_reward: float = 0.0
    cost: float = 0.0
    error: str | None = None
    duration_s: float
    finished_at: str = Field(default_factory=now)


TrajectoryRecord = Annotated[
    TrajectoryHeader | StepRecord | TrajectoryFooter, Field(discriminator="record")
]
