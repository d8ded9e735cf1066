"""Run configs (`configs/*.yaml`): which tasks, which runtime, which agent, how many workers.

Relative paths in a config file are relative to the file's own folder, so a config means the
same thing from wherever it is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentenv.aci.interface import ACIConfig
from agentenv.files import describe_validation, read_yaml
from agentenv.agents.llm_config import LLMAgentConfig
from agentenv.grading.metrics import RewardKind
from agentenv.runtime.sandbox import ContainerLimits

CONFIG_SCHEMA_VERSION = 1


class ConfigError(ValueError):
    """A run config is unreadable or invalid; the message names the file and the field."""


class OracleConfig(BaseModel):
    """The oracle: replays each task's reference patch through the ACI."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["oracle"] = "oracle"


AgentConfig = Annotated[OracleConfig | LLMAgentConfig, Field(discriminator="type")]


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CONFIG_SCHEMA_VERSION
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    tasks: str
    instance_ids: list[str] | None = None
    runtime: Literal["docker", "local", "auto"] = "docker"
    agent: AgentConfig = Field(default_factory=OracleConfig)
    max_steps: int = Field(50, ge=1)
    workers: int = Field(1, ge=1)
    # Attempts per task; the report gives pass@1..samples.
    samples: int = Field(1, ge=1)
    # An episode that fails (not the agent: the environment) is run again this many times.
    episode_retries: int = Field(2, ge=0)
    # The most the whole run may spend on models (USD); no model call starts beyond it.
    cost_limit: float | None = Field(None, gt=0)
    backend: Literal["local", "ray"] = "local"
    # A Ray cluster to join ("auto", "ray://host:10001"); none starts a local one.
    address: str | None = None
    seed: int = 0
    output: str = "trajectories"
    grading_timeout: float = Field(1800.0, gt=0)
    # The env's reward on submit: 1/0 if resolved, the share of passing hidden tests, or RLTF's.
    reward: RewardKind = "binary"
    aci: ACIConfig = Field(default_factory=ACIConfig)
    # Folders of extra command bundles (config.yaml + bin/ scripts), offered with the built-ins.
    tools: list[str] = Field(default_factory=list)
    limits: ContainerLimits = Field(default_factory=ContainerLimits)
    # Set by load_config: the folder relative paths are resolved against.
    base_dir: str = Field(".", exclude=True)

    def path(self, value: str) -> Path:
        candidate = Path(value)
        return candidate if candidate.is_absolute() else (Path(self.base_dir) / candidate).resolve()


def load_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Read a YAML config; `overrides` (e.g. from CLI flags) replace its values when not None."""
    path = Path(path)
    raw = read_yaml(path, ConfigError) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a run config must be a mapping")
    raw.update({key: value for key, value in overrides.items() if value is not None})
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation(exc)}") from None
    config.base_dir = str(path.resolve().parent)
    return config
