"""Reading SWE-agent and mini-swe-agent trajectory files: their formats as pydantic models,
format detection, and helpers shared by the converters (see `convert` for the sources read)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agentenv.files import describe_validation
from agentenv.trajectory.model import StepRecord, TrajectoryFooter, TrajectoryHeader

Format = Literal["swe-agent", "mini-swe-agent"]
Records = tuple[TrajectoryHeader, list[StepRecord], TrajectoryFooter | None]

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# mini-swe-agent's action blocks: 2.x's default, then 1.x's.
MINI_ACTION_REGEXES = (r"```mswea_bash_command\s*\n(.*?)\n```", r"```bash\s*\n(.*?)\n```")
RETURNCODE = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
# SWE-agent statuses with an obvious agentenv counterpart; the others are kept as they are.
SWE_AGENT_EXIT = {
    "exit_cost": "cost_limit", "exit_context": "agent_error", "exit_format": "agent_error",
    "exit_api": "agent_error", "exit_error": "agent_error", "exit_environment_error": "env_error",
}
LIMITS = ("max_steps", "cost_limit", "call_limit")
# What a chat API takes. Their bookkeeping on messages (agent names, costs) is left out.
_CHAT_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content",
              "thinking_blocks")


class TrajectoryImportError(ValueError):
    """A file cannot be imported; the message names the file and what is wrong with it."""


class _Loose(BaseModel):
    # Their formats grow fields from version to version: unknown ones are kept, not rejected.
    model_config = ConfigDict(extra="allow")


class SweAgentStep(_Loose):
    action: str = ""
    observation: str = ""
    response: str = ""
    thought: str = ""
    state: dict[str, Any] | str | None = None  # 0.x: a JSON string
    execution_time: float | None = None
    query: list[dict[str, Any]] = []  # 1.1+
    extra_info: dict[str, Any] = {}


class SweAgentInfo(_Loose):
    exit_status: str | None = None
    submission: str | dict[str, Any] | None = None
    model_stats: dict[str, Any] = {}


class SweAgentFile(_Loose):
    trajectory: list[SweAgentStep]
    history: list[dict[str, Any]] = []
    info: SweAgentInfo = SweAgentInfo()
    replay_config: str | dict[str, Any] | None = None
    environment: str | None = None


class MiniMessage(_Loose):
    role: str
    content: str | list[dict[str, Any]] | None = None
    extra: dict[str, Any] = {}


class MiniInfo(_Loose):
    exit_status: str | None = None
    submission: str | None = None
    model_stats: dict[str, Any] = {}
    mini_version: str | None = None
    config: dict[str, Any] = {}


class MiniFile(_Loose):
    info: MiniInfo
    messages: list[MiniMessage]
    trajectory_format: str | None = None
    instance_id: str | None = None


class ImportOutcome(BaseModel):
    source: str
    path: str | None = None
    format: str | None = None
    steps: int = 0
    exit_status: str | None = None
    error: str | None = None


# -- reading -----------------------------------------------------------------------------
def detect_format(data: Any) -> Format:
    if not isinstance(data, dict):
        raise TrajectoryImportError(f"the top level is a JSON {type(data).__name__}, not an object")
    marker = data.get("trajectory_format")
    if isinstance(marker, str) and marker.startswith("mini-swe-agent"):
        return "mini-swe-agent"
    if "trajectory" in data or "attempts" in data:
        return "swe-agent"
    if "messages" in data and "info" in data:
        return "mini-swe-agent"
    raise TrajectoryImportError(
        "neither a SWE-agent trajectory (no `trajectory` key) nor a mini-swe-agent one "
        "(no `messages` and `info` keys)"
    )


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrajectoryImportError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TrajectoryImportError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise TrajectoryImportError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None


def validate_as(model: type[BaseModel], data: dict[str, Any], kind: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TrajectoryImportError(f"not a valid {kind} trajectory: {describe_validation(exc)}") from None


# -- shared pieces -----------------------------------------------------------------------
def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def text_of(content: Any) -> str:
    if isinstance(content, list):  # multimodal or cache-controlled content: its text parts
        return "\n".join(str(p["text"]) for p in content if isinstance(p, dict) and "text" in p)
    return "" if content is None else str(content)


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    chat = {key: message[key] for key in _CHAT_KEYS if message.get(key) is not None}
    ids = message.get("tool_call_ids")  # SWE-agent lists the one id a tool reply answers
    if "tool_call_id" not in chat and isinstance(ids, list) and ids:
        chat["tool_call_id"] = ids[0]
    chat.setdefault("content", "")
    return chat


def number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass  # kept as the string it is
    return value
