"""A trajectory as the conversation a model saw: OpenAI/TRL chat messages with tool calls.

For an LLM agent the conversation is exactly what it was sent at its last step and the reply
it gave. For any other agent (the oracle, a replayed or imported trajectory) it is what the
ACI would have shown a function-calling model: a system message, the problem and the command
docs as the user message, then per step an assistant message calling the command (its
thought as the content) and a tool message with the observation.
"""

from __future__ import annotations

from typing import Any

from agentenv.trajectory.model import StepRecord
from agentenv.trajectory.recorder import Trajectory

SYSTEM_PROMPT = (
    "You are a software engineer working in a repository inside a sandbox. You act by "
    "calling one of the tools at a time; each call's result comes back as a tool message. "
    "Fix the issue you are given, check your change, then call submit."
)
Message = dict[str, Any]


def call_id(step: StepRecord) -> str:
    return f"call_{step.index}"


def prompt_messages(trajectory: Trajectory) -> list[Message]:
    """What comes before the agent's first action."""
    first_call = next((s.model_call for s in trajectory.steps if s.model_call and s.model_call.messages), None)
    if first_call is not None:
        # The LLM's own first prompt: everything up to its first reply.
        return [dict(m) for m in first_call.messages[: _first_reply_index(first_call.messages)]]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": trajectory.header.initial_observation},
    ]


def _first_reply_index(messages: list[Message]) -> int:
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            return index
    return len(messages)


def step_messages(step: StepRecord) -> list[Message]:
    """The assistant's action and the environment's reply, for one step."""
    command = step.info.get("command")
    if not command:
        # Not a command the ACI understood: the model wrote text, the env answered in words.
        return [
            {"role": "assistant", "content": step.action},
            {"role": "user", "content": step.observation},
        ]
    identifier = call_id(step)
    return [
        {
            "role": "assistant",
            "content": step.thought or "",
            "tool_calls": [
                {
                    "id": identifier,
                    "type": "function",
                    "function": {"name": command["name"], "arguments": dict(command.get("arguments") or {})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": identifier, "name": command["name"], "content": step.observation},
    ]


def is_llm_trajectory(trajectory: Trajectory) -> bool:
    return bool(trajectory.steps) and all(s.model_call is not None and s.model_call.messages for s in trajectory.steps)


def conversation(trajectory: Trajectory, prompt: list[Message] | None = None) -> list[Message]:
    """The whole conversation: the prompt (`prompt_messages`, made unless given), then every step."""
    if is_llm_trajectory(trajectory):
        last = trajectory.steps[-1].model_call
        assert last is not None
        messages = [dict(m) for m in last.messages]
        if last.response is not None:
            messages.append(dict(last.response))
        return messages
    messages = list(prompt if prompt is not None else prompt_messages(trajectory))
    for step in trajectory.steps:
        messages.extend(step_messages(step))
    return messages


def split_conversation(trajectory: Trajectory) -> tuple[list[Message], list[Message]]:
    """The prompt, and the conversation after it: what the agent did and what it saw."""
    prompt = prompt_messages(trajectory)
    return prompt, conversation(trajectory, prompt)[len(prompt) :]


def completion_messages(trajectory: Trajectory) -> list[Message]:
    """The conversation after the prompt."""
    return split_conversation(trajectory)[1]
