"""Configuration of the LLM agent (the `agent:` section of a run config with `type: llm`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RetryConfig(BaseModel):
    """Retries of transient model failures (rate limit, timeout, 5xx, connection)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(5, ge=1)
    initial_wait_s: float = Field(1.0, ge=0)
    max_wait_s: float = Field(30.0, ge=0)


class TemplateFiles(BaseModel):
    """Jinja2 templates; relative paths are relative to the run config's folder."""

    model_config = ConfigDict(extra="forbid")

    system: str = "templates/system.j2"
    instance: str = "templates/instance.j2"
    next_step: str = "templates/next_step.j2"
    format_error: str = "templates/format_error.j2"


class LLMAgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["llm"] = "llm"
    # Any litellm model id: "openai/gpt-4o", "anthropic/claude-...", "openai/<name>" for an
    # OpenAI-compatible server given by api_base.
    model: str
    mode: Literal["function_calling", "text"] = "function_calling"
    api_base: str | None = None
    # The name of the environment variable holding the API key (never the key itself).
    api_key_env: str | None = None
    temperature: float = 0.0
    top_p: float | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    # Extra keyword arguments for litellm.completion (e.g. {"reasoning_effort": "low"}).
    completion_kwargs: dict[str, Any] = Field(default_factory=dict)
    templates: TemplateFiles = Field(default_factory=TemplateFiles)
    # Observations older than the last N are replaced by a note in what the model is sent.
    history_keep_last: int = Field(5, ge=1)
    max_format_retries: int = Field(3, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    # Per-episode limits; every attempt counts, failed and re-asked ones included.
    cost_limit: float | None = Field(None, gt=0)
    call_limit: int | None = Field(None, ge=1)
    # Prices (USD per token) for models litellm does not know, e.g. a local server.
    input_cost_per_token: float | None = Field(None, ge=0)
    output_cost_per_token: float | None = Field(None, ge=0)
