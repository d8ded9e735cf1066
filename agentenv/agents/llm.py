"""The LLM agent: any model through litellm, by function calling or by text.

One `act` is one env step: the observation joins the history, the history (older observations
elided) goes to the model, and the reply must hold exactly one command — a tool call, or one
fenced block in text mode. A reply that does not is re-asked, with the reason, up to
`max_format_retries` times. Transient failures are retried with backoff; lasting ones end the
episode. Every attempt counts against the episode's call and cost limits and the run's budget,
which are checked before each attempt, so a limit holds whatever fails or is re-asked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

# litellm fetches its price list from GitHub at import unless told to use its bundled copy:
# offline machines would wait on retries, and a price list should not change under a run.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import openai  # noqa: E402
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential  # noqa: E402

from agentenv.aci.tools import ToolBundle
from agentenv.agents.base import AgentError, AgentStep
from agentenv.agents.budget import Budget
from agentenv.agents.llm_config import LLMAgentConfig
from agentenv.agents.prompts import Templates
from agentenv.trajectory.model import AgentInfo, ModelCall

log = logging.getLogger(__name__)

_FENCE = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.S)
# litellm's transient errors derive from the openai SDK's classes (not all from litellm's
# APIError): a timeout, a dropped connection, or a status that says "try again".
_TRANSIENT_TYPES = (openai.APITimeoutError, openai.APIConnectionError, litellm.Timeout, litellm.APIConnectionError)
_TRANSIENT_STATUS = {408, 409, 429}
_ELIDED = "[The output of an earlier command ({lines} lines) is left out here to save context.]"
Message = dict[str, Any]


class FormatError(Exception):
    """The reply holds no usable command; the message tells the model why."""


def is_transient(exc: BaseException) -> bool:
    """Rate limits, timeouts, dropped connections and 5xx: worth another attempt."""
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.AuthenticationError | litellm.BadRequestError):
        return False
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in _TRANSIENT_STATUS or status >= 500)


def _lasting_status(exc: BaseException) -> str:
    if isinstance(exc, litellm.ContextWindowExceededError):
        return "context_window"
    if isinstance(exc, litellm.AuthenticationError):
        return "auth_error"
    return "model_error"


class LLMAgent:
    def __init__(
        self,
        config: LLMAgentConfig,
        bundle: ToolBundle,
        templates: Templates,
        budget: Budget | None = None,
    ) -> None:
        self.config = config
        self.bundle = bundle
        self.templates = templates
        self.budget = budget
        self.info = AgentInfo(name="llm", model=config.model, mode=config.mode)
        self._history: list[Message] = []
        self.calls = 0
        self.cost = 0.0
        self._pending_call_id: str | None = None

    # -- the Agent protocol ---------------------------------------------------------------
    def reset(self, observation: str, info: dict[str, Any]) -> None:
        self.calls, self.cost = 0, 0.0
        self._pending_call_id = None
        self._history = [
            {"role": "system", "content": self.templates.system(mode=self.config.mode, command_docs=self.bundle.docs())},
            {
                "role": "user",
                "content": self.templates.instance(
                    problem_statement=info.get("problem_statement") or observation,
                    requirements=info.get("requirements"),
                    repo_dir=info.get("repo_dir", "/repo"),
                    observation=observation,
                ),
            },
        ]

    def act(self, observation: str, info: dict[str, Any]) -> AgentStep:
        if self._history[-1]["role"] == "assistant":  # the reply to our last command
            self._history.append(self._observation_message(observation))
        sent = self._processed(self._history)
        conversation = list(sent)
        step_cost, step_usage = 0.0, {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for attempt in range(self.config.max_format_retries + 1):
            reply, usage, cost = self._complete(conversation)
            step_cost += cost
            for key in step_usage:
                step_usage[key] += int(usage.get(key) or 0)
            try:
                action, thought, call_id = self._action_from(reply)
            except FormatError as exc:
                if attempt == self.config.max_format_retries:
                    raise AgentError(
                        f"the model's reply had no usable command {attempt + 1} times in a row: {exc}", "format_error"
                    ) from None
                conversation += [reply, *self._format_error_messages(reply, str(exc))]
                continue
            # Only the well-formed reply stays in the history; the re-asks were for this step.
            self._history.append(reply)
            self._pending_call_id = call_id
            model_call = ModelCall(
                messages=conversation, response=reply, usage=step_usage, cost=step_cost,
                reasks=attempt, calls=self.calls,
            )
            return AgentStep(action=action, thought=thought, model_call=model_call)
        raise AssertionError("unreachable")

    # -- messages -------------------------------------------------------------------------
    def _observation_message(self, observation: str) -> Message:
        if self.config.mode == "function_calling" and self._pending_call_id:
            return {"role": "tool", "tool_call_id": self._pending_call_id, "content": observation}
        return {"role": "user", "content": self.templates.next_step(observation=observation)}

    def _processed(self, history: list[Message]) -> list[Message]:
        """The history as sent: observations older than the last N are replaced by a note."""
        observations = [i for i, m in enumerate(history) if i >= 2 and m["role"] in ("tool", "user")]
        keep = set(observations[-self.config.history_keep_last :])
        sent = []
        for index, message in enumerate(history):
            if index in observations and index not in keep:
                lines = str(message.get("content") or "").count("\n") + 1
                message = {**message, "content": _ELIDED.format(lines=lines)}
            sent.append(dict(message))
        return sent

    def _format_error_messages(self, reply: Message, error: str) -> list[Message]:
        text = self.templates.format_error(error=error, mode=self.config.mode)
        calls = reply.get("tool_calls") or []
        if calls:  # every tool call must be answered before the model may speak again
            return [{"role": "tool", "tool_call_id": c.get("id", ""), "content": text} for c in calls]
        return [{"role": "user", "content": text}]

    def _action_from(self, reply: Message) -> tuple[str, str | None, str | None]:
        """(action text for the env, the model's thought, the tool call's id)."""
        content = (reply.get("content") or "").strip()
        if self.config.mode == "function_calling":
            calls = reply.get("tool_calls") or []
            if len(calls) != 1:
                raise FormatError(
                    "it called no tool" if not calls else f"it called {len(calls)} tools; call exactly one per turn"
                )
            function = calls[0].get("function") or {}
            raw = function.get("arguments") or "{}"
            try:
                arguments = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError as exc:
                raise FormatError(f"the arguments of {function.get('name')!r} are not valid JSON ({exc.msg})") from None
            if not isinstance(arguments, dict):
                raise FormatError(f"the arguments of {function.get('name')!r} are not a JSON object")
            action = json.dumps({"name": function.get("name"), "arguments": arguments})
            return action, content or None, calls[0].get("id")
        blocks = _FENCE.findall(content)
        if len(blocks) != 1:
            raise FormatError(
                "it has no fenced code block with a command" if not blocks
                else f"it has {len(blocks)} fenced code blocks; give exactly one command"
            )
        thought = content[: content.index("```")].strip()
        return blocks[0].strip("\n"), thought or None, None

    # -- the model ------------------------------------------------------------------------
    def _check_limits(self) -> None:
        if self.config.call_limit is not None and self.calls >= self.config.call_limit:
            raise AgentError(f"the episode reached its limit of {self.config.call_limit} model calls", "call_limit")
        if self.config.cost_limit is not None and self.cost >= self.config.cost_limit:
            raise AgentError(f"the episode reached its cost limit (${self.config.cost_limit:g})", "cost_limit")
        if self.budget is not None and self.budget.exceeded():
            raise AgentError("the run reached its total cost limit", "run_cost_limit")

    def _complete(self, messages: list[Message]) -> tuple[Message, dict[str, Any], float]:
        retry = self.config.retry
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(retry.attempts),
            wait=wait_exponential(multiplier=retry.initial_wait_s, max=retry.max_wait_s),
            reraise=False,
        )
        try:
            response = retrying(self._one_call, messages)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise AgentError(f"the model kept failing ({retry.attempts} attempts): {last}", "model_error") from None
        except AgentError:
            raise
        except Exception as exc:  # lasting: authentication, bad request, context window
            raise AgentError(f"the model call failed: {exc}", _lasting_status(exc)) from None
        message = response.choices[0].message
        reply: Message = {"role": "assistant", "content": message.content or ""}
        if getattr(message, "tool_calls", None):
            reply["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                for c in message.tool_calls
            ]
        usage = dict(response.usage) if getattr(response, "usage", None) else {}
        cost = self._cost(response, usage)
        self.cost += cost
        if self.budget is not None:
            self.budget.charge(cost)
        return reply, usage, cost

    def _one_call(self, messages: list[Message]) -> Any:
        self._check_limits()  # before every attempt, so limits hold through retries
        self.calls += 1
        config = self.config
        kwargs: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "temperature": config.temperature,
            "timeout": config.timeout_s,
            "max_retries": 0,  # retries are ours, counted against the limits
            **config.completion_kwargs,
        }
        if config.api_base:
            kwargs["api_base"] = config.api_base
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise AgentError(f"the environment variable {config.api_key_env} (the API key) is not set", "auth_error")
            kwargs["api_key"] = key
        if config.top_p is not None:
            kwargs["top_p"] = config.top_p
        if config.max_output_tokens is not None:
            kwargs["max_tokens"] = config.max_output_tokens
        if config.mode == "function_calling":
            kwargs["tools"] = self.bundle.function_schemas()
            # litellm 1.10x treats any `tools` as possibly MCP and imports the `mcp` package
            # (an extra of litellm[proxy]) unless told these are plain function tools.
            kwargs["_skip_mcp_handler"] = True
        started = time.monotonic()
        response = litellm.completion(**kwargs)
        log.debug("model call %d took %.2fs", self.calls, time.monotonic() - started)
        return response

    def _cost(self, response: Any, usage: dict[str, Any]) -> float:
        config = self.config
        if config.input_cost_per_token is not None or config.output_cost_per_token is not None:
            return int(usage.get("prompt_tokens") or 0) * (config.input_cost_per_token or 0.0) + int(
                usage.get("completion_tokens") or 0
            ) * (config.output_cost_per_token or 0.0)
        hidden = getattr(response, "_hidden_params", None) or {}
        if hidden.get("response_cost") is not None:  # priced by litellm under the name asked for
            return float(hidden["response_cost"])
        try:
            # The name asked for, not the one the server answers with (a dated snapshot name
            # would not be in the price list).
            return float(litellm.completion_cost(completion_response=response, model=config.model))
        except Exception:  # a model litellm has no price for: say so once, count it as free
            log.warning("no price known for %s; set input_cost_per_token/output_cost_per_token", config.model)
            return 0.0
