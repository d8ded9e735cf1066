"""The agent seam: anything that turns observations into actions."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from agentenv.trajectory.model import AgentInfo, ModelCall


class AgentStep(BaseModel):
    """One decision: the action text, and what led to it."""

    action: str
    thought: str | None = None
    model_call: ModelCall | None = None


class AgentError(Exception):
    """The agent cannot go on (its model failed for good, a limit was reached...)."""

    def __init__(self, message: str, exit_status: str = "agent_error") -> None:
        super().__init__(message)
        self.exit_status = exit_status


@runtime_checkable
class Agent(Protocol):
    info: AgentInfo

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        """A new episode starts with this observation (the problem and the command docs)."""
        ...

    def act(self, observation: str, info: dict[str, Any]) -> AgentStep:
        """The next action, given the last observation and its info."""
        ...
