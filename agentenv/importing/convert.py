"""SWE-agent `.traj` and mini-swe-agent `.traj.json` files as agentenv trajectories.

Their formats, as read in their sources (schemas only; no trajectory was copied):
- SWE-agent 1.x (SWE-agent/SWE-agent): `sweagent/types.py` (TrajectoryStep, HistoryItem,
  AgentInfo), `sweagent/agent/agents.py` (get_trajectory_data, add_step_to_trajectory, the
  exit statuses, RetryAgent's `attempts`), `docs/usage/trajectories.md` (before 1.1 a step
  held `messages`, the next step's input, where 1.1 holds `query`, this step's input).
- SWE-agent 0.x (princeton-nlp/SWE-agent): `sweagent/agent/agents.py` (save_trajectory:
  environment, trajectory, history, info; `state` is a JSON string) and the files under
  `trajectories/demonstrations/`.
- mini-swe-agent 1.x (SWE-agent/mini-swe-agent): `src/minisweagent/run/utils/save.py`,
  `agents/default.py` (one ```bash block per reply; the submission comes back as the last
  user message), `run/extra/swebench.py` (a top-level `instance_id`).
- mini-swe-agent 2.x: `docs/v2_migration.md` (trajectory_format mini-swe-agent-1.1,
  ```mswea_bash_command blocks, `extra` on messages), `models/litellm_model.py` and
  `models/utils/actions_text.py` (extra.actions, extra.cost; a format error is a user message
  with extra.model_response), and the closing `role: "exit"` message.

One step per agent reply; a reply that did not parse is a step too, as agentenv records it.
What the model was sent becomes `model_call.messages`: SWE-agent's `query`, or else the history
up to the reply (`messages_from="history"`). Actions that are agentenv commands are parsed into
`info["command"]`; mini-swe-agent's shell commands become `bash`. Their statuses, statistics
and configuration stay in extra fields of the header and footer. Of a SWE-agent retry run,
the chosen attempt is imported. (Two formats in several versions: hence the length.)
"""


from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentenv.aci.parser import ActionParseError, format_action, parse_action
from agentenv.aci.tools import ToolBundle, load_bundle
from agentenv.trajectory.model import AgentInfo, ModelCall, StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder
from agentenv.importing.formats import (
    ImportOutcome,
    MiniFile,
    MiniInfo,
    MiniMessage,
    Records,
    SweAgentFile,
    SweAgentStep,
    TrajectoryImportError,
    LIMITS,
    MINI_ACTION_REGEXES,
    RETURNCODE,
    SAFE_NAME,
    SWE_AGENT_EXIT,
    chat_message,
    dig,
    json_or_text,
    load_json,
    number,
    text_of,
    validate_as,
    detect_format,
)


def _instance_id(found: Any, source: Path) -> str:
    suffixes = (".traj.json", ".traj", ".json")
    name = str(found) if found else next(
        (source.name.removesuffix(s) for s in suffixes if source.name.endswith(s)), source.stem)
    # It becomes a file name: no path separators, no leading dot.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip("._-")
    if not cleaned:
        raise TrajectoryImportError(f"no usable instance id in {name!r}")
    return cleaned


def _parse(action: str, bundle: ToolBundle, info: dict[str, Any]) -> None:
    """agentenv's parse of an action whose first word names one of its commands, into info."""
    words = action.split(None, 1)
    if words and words[0] in bundle.by_name:
        try:
            info["command"] = parse_action(action, bundle).model_dump()
        except ActionParseError as exc:
            info["parse_error"] = str(exc)


def _text_of_call(call: Any, bundle: ToolBundle) -> str | None:
    """The agentenv text action for a function call that is one of agentenv's commands."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return None
    request = {"name": function.get("name"), "arguments": function.get("arguments") or {}}
    try:
        parsed = parse_action(json.dumps(request), bundle)
    except ActionParseError:
        return None
    return format_action(parsed.name, parsed.arguments, bundle)


def _ends(mapped: str | None, last: bool) -> tuple[bool, bool]:
    """terminated, truncated: only the last step of a finished run ends the episode."""
    if not last or mapped is None:
        return False, False
    return mapped == "submitted", mapped in LIMITS


def _footer(mapped: str | None, source_status: str | None, submission: Any,
            stats: dict[str, Any], steps: int, duration: float = 0.0,
            **extra: Any) -> TrajectoryFooter | None:
    if mapped is None:  # they save after every step: no status yet is an unfinished run
        return None
    return TrajectoryFooter(
        exit_status=mapped, steps=steps, cost=number(stats.get("instance_cost")),
        submission=(json.dumps(submission) if isinstance(submission, dict) else submission) or None,
        duration_s=duration, source_exit_status=source_status, model_stats=stats, **extra,
    )


# -- SWE-agent ---------------------------------------------------------------------------
def _swe_agent_exit(status: str | None) -> str | None:
    if status is None:
        return None
    return "submitted" if status.startswith("submitted") else SWE_AGENT_EXIT.get(status, status)


def _align(steps: list[SweAgentStep], history: list[dict[str, Any]]) -> list[int | None]:
    """For each step, where in the history its reply is. A requery after a format error is a
    step of its own but not in the history: it matches nothing, and the next step goes on."""
    replies = [i for i, m in enumerate(history)
               if m.get("role") == "assistant" and not m.get("is_demo")]
    found: list[int | None] = []
    for step in steps:
        reply = history[replies[0]] if replies else {}
        same = reply.get("action") == step.action or (
            step.response and reply.get("content") == step.response)
        found.append(replies.pop(0) if replies and same else None)
    return found


def _swe_agent_step(index: int, step: SweAgentStep, at: int | None, history: list[dict[str, Any]],
                    bundle: ToolBundle, ends: tuple[bool, bool]) -> StepRecord:
    calls = (history[at].get("tool_calls") if at is not None else None) or []
    info: dict[str, Any] = {"command": None, "exit_code": None, "error": None}
    action = step.action
    rendered = _text_of_call(calls[0], bundle) if len(calls) == 1 else None
    if rendered is not None and rendered != action:
        # The model called an agentenv command: the action as agentenv writes it.
        action, info["source_action"] = rendered, step.action
    _parse(action, bundle, info)
    if not action.strip():  # SWE-agent requeried the model: its reply held no action
        info["error"] = "parse_error"
    if state := json_or_text(step.state):
        info["state"] = state
    if step.extra_info:
        info["extra_info"] = step.extra_info
    unknown = dict(step.model_extra or {})
    unknown.pop("messages", None)  # 1.0's input of the next step: the history holds it
    response: dict[str, Any] = {"role": "assistant", "content": step.response}
    if calls:
        response["tool_calls"] = calls
    if unknown.get("reasoning_content"):
        response["reasoning_content"] = unknown.pop("reasoning_content")
    if unknown:
        info["source_fields"] = unknown
    query = [m for m in step.query if m]  # 1.x's default query is [{}]
    messages = query or (history[:at] if at is not None else [])
    call = None
    if messages or step.response:
        origin = ("query" if query else "history") if messages else None
        call = ModelCall(messages=[chat_message(m) for m in messages], response=response,
                         messages_from=origin)
    timings = {}
    if step.execution_time is not None:
        timings["env_s"] = info["duration_s"] = step.execution_time
    return StepRecord(
        index=index, action=action, observation=step.observation, reward=0.0,
        terminated=ends[0], truncated=ends[1], info=info, thought=step.thought or None,
        model_call=call, timings=timings,
    )


def _swe_agent_records(data: dict[str, Any], source: Path, run_id: str,
                       bundle: ToolBundle) -> Records:
    attempts = data.get("attempts")
    if "trajectory" not in data and isinstance(attempts, list) and attempts:
        data = attempts[-1] if isinstance(attempts[-1], dict) else {}  # saved before choosing
    parsed: SweAgentFile = validate_as(SweAgentFile, data, "SWE-agent")
    replay = json_or_text(parsed.replay_config)
    # Subroutine agents write into the same history; the main agent wrote its first message.
    main = parsed.history[0].get("agent") if parsed.history else None
    history = [m for m in parsed.history if m.get("agent", main) == main]
    first = next((m for m in history if m.get("role") == "user" and not m.get("is_demo")), None)
    if first is None:
        query = next((s.query for s in parsed.trajectory if any(s.query)), [])
        first = next((m for m in query if m.get("role") == "user"), {})
    initial = text_of(first.get("content"))
    statement = dig(replay, "problem_statement")
    instance = _instance_id(dig(statement, "id"), source)
    model = dig(replay, "agent", "model", "name") or dig(replay, "agent", "model", "model_name")
    info = parsed.info
    rest = dict(info.model_extra or {})
    versions = {name: str(rest[key]) for name, key in
                (("swe-agent", "swe_agent_version"), ("swe-rex", "swe_rex_version")) if rest.get(key)}
    unknown = {k: v for k, v in (parsed.model_extra or {}).items() if k != "attempts"}
    header = TrajectoryHeader(
        run_id=run_id, instance_id=instance,
        task={"instance_id": instance, "problem_statement": dig(statement, "text") or initial},
        config={"replay_config": replay, "environment": parsed.environment, **unknown},
        agent=AgentInfo(name="swe-agent", model=model), versions=versions, runtime="imported",
        image=dig(replay, "env", "deployment", "image"),
        base_commit=dig(replay, "env", "repo", "base_commit"), initial_observation=initial,
        source="swe-agent", source_file=str(source),
        source_attempts=len(attempts) if isinstance(attempts, list) else None,
    )
    mapped = _swe_agent_exit(info.exit_status)
    aligned = _align(parsed.trajectory, history)
    last = len(parsed.trajectory) - 1
    steps = [_swe_agent_step(i, step, aligned[i], history, bundle, _ends(mapped, i == last))
             for i, step in enumerate(parsed.trajectory)]
    footer = _footer(mapped, info.exit_status, info.submission, info.model_stats, len(steps),
                     source_info=rest)
    return header, steps, footer


# -- mini-swe-agent ----------------------------------------------------------------------
def _mini_exit(info: MiniInfo) -> str | None:
    if info.exit_status == "Submitted":
        return "submitted"
    if info.exit_status == "LimitsExceeded":  # which limit: the one the statistics reached
        agent = info.config.get("agent")
        agent = agent if isinstance(agent, dict) else {}
        cost_limit, step_limit = number(agent.get("cost_limit")), number(agent.get("step_limit"))
        if cost_limit and number(info.model_stats.get("instance_cost")) >= cost_limit:
            return "cost_limit"
        if step_limit and number(info.model_stats.get("api_calls")) >= step_limit:
            return "call_limit"  # mini's step limit counts model calls
    return info.exit_status


def _mini_actions(reply: MiniMessage, regexes: list[str]) -> tuple[list[str], str]:
    """The shell commands of a reply, and its text without them (the thought)."""
    if "model_response" in reply.extra:  # 2.x: a format error holds the reply that caused it
        return [], str(reply.extra["model_response"])
    text = text_of(reply.content)
    actions = reply.extra.get("actions")
    commands = ([str(a.get("command", "")) for a in actions if isinstance(a, dict)]
                if isinstance(actions, list) else [])
    for regex in regexes:
        found = [a.strip() for a in re.findall(regex, text, re.DOTALL)]
        if found:
            return commands or found, re.sub(regex, "", text, flags=re.DOTALL).strip()
    return commands, text.strip()


def _mini_step(index: int, messages: list[MiniMessage], at: int, end: int, regexes: list[str],
               bundle: ToolBundle, ends: tuple[bool, bool]) -> StepRecord:
    reply = messages[at]
    commands, thought = _mini_actions(reply, regexes)
    format_error = "model_response" in reply.extra
    after = messages[at if format_error else at + 1 : end]
    # The run's closing message ("exit" in 2.x) is the observation only of a step without one.
    seen = [m for m in after if m.role != "exit"] or after
    observation = "\n".join(t for t in (text_of(m.content) for m in seen) if t)
    info: dict[str, Any] = {"command": None, "exit_code": None, "error": None}
    if len(commands) == 1:
        action, info["source_action"] = f"bash {commands[0]}", commands[0]
        _parse(action, bundle, info)
    else:  # as agentenv records a reply it cannot parse: the text, and a parse error
        action, info["error"] = (thought if format_error else text_of(reply.content)), "parse_error"
        if commands:
            info["actions"] = commands
    codes = [m.extra["returncode"] for m in seen if isinstance(m.extra.get("returncode"), int)]
    # 1.x keeps the return code only in the rendered observation.
    codes = codes or [int(c) for c in RETURNCODE.findall(observation[:200])]
    info["exit_code"] = codes[-1] if codes else None
    if extras := [m.extra for m in seen if m.extra]:
        info["observation_extra"] = extras[0] if len(extras) == 1 else extras
    raw = reply.extra.get("response")
    raw = raw if isinstance(raw, dict) else {}
    call = ModelCall(
        messages=[chat_message(m.model_dump()) for m in messages[:at]],
        response={"role": "assistant", "content": thought} if format_error else chat_message(reply.model_dump()),
        usage=raw.get("usage") or {}, cost=number(reply.extra.get("cost")),
        **({"api_response": raw} if raw else {}),
    )
    stamp = reply.extra.get("timestamp")
    when = {"timestamp": datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
            } if isinstance(stamp, int | float) else {}
    return StepRecord(
        index=index, action=action, observation=observation, reward=0.0, terminated=ends[0],
        truncated=ends[1], info=info, thought=(thought or None) if len(commands) == 1 else None,
        model_call=call, **when,
    )


def _mini_records(data: dict[str, Any], source: Path, run_id: str,
                  bundle: ToolBundle) -> Records:
    parsed: MiniFile = validate_as(MiniFile, data, "mini-swe-agent")
    info, messages, config = parsed.info, parsed.messages, parsed.info.config
    rest = dict(info.model_extra or {})
    first = next((m for m in messages if m.role == "user"), None)
    initial = text_of(first.content) if first else ""
    instance = _instance_id(parsed.instance_id or rest.get("instance_id"), source)
    configured = dig(config, "model", "action_regex") or dig(config, "agent", "action_regex")
    regexes = [configured] if isinstance(configured, str) else list(MINI_ACTION_REGEXES)
    versions = {name: value for name, value in (("mini-swe-agent", info.mini_version),
                                                ("trajectory_format", parsed.trajectory_format))
                if value}
    unknown = dict(parsed.model_extra or {})
    header = TrajectoryHeader(
        run_id=run_id, instance_id=instance,
        task={"instance_id": instance, "problem_statement": initial}, config=config,
        agent=AgentInfo(name="mini-swe-agent", model=dig(config, "model", "model_name"),
                        agent_type=config.get("agent_type"), model_type=config.get("model_type")),
        versions=versions, runtime="imported", image=dig(config, "environment", "image"),
        initial_observation=initial, source="mini-swe-agent", source_file=str(source),
        source_fields=unknown or None,
    )
    mapped = _mini_exit(info)
    # A reply is an assistant message, or (2.x) a format error that carries the bad reply.
    turns = [i for i, m in enumerate(messages)
             if m.role == "assistant" or "model_response" in m.extra]
    steps = [_mini_step(n, messages, at, turns[n + 1] if n + 1 < len(turns) else len(messages),
                        regexes, bundle, _ends(mapped, n == len(turns) - 1))
             for n, at in enumerate(turns)]
    stamps = [m.extra["timestamp"] for m in messages
              if isinstance(m.extra.get("timestamp"), int | float)]
    footer = _footer(mapped, info.exit_status, info.submission, info.model_stats, len(steps),
                     duration=(max(stamps) - min(stamps)) if stamps else 0.0, source_info=rest)
    return header, steps, footer


# -- the API -----------------------------------------------------------------------------
def convert(data: Any, source: Path, run_id: str, bundle: ToolBundle | None = None) -> Records:
    """The agentenv records of one of their trajectories (already read from `source`)."""
    bundle = bundle or load_bundle()
    records = _swe_agent_records if detect_format(data) == "swe-agent" else _mini_records
    header, steps, footer = records(data, source, run_id, bundle)
    if steps and not all(s.model_call and s.model_call.messages for s in steps):
        # Exports then show agentenv's own commands, so declare them.
        header.tools = bundle.function_schemas()
    return header, steps, footer


def default_run_id(out_dir: Path) -> str:
    name = Path(out_dir).resolve().name
    return name if SAFE_NAME.match(name) else "imported"


def check_run_id(run_id: str) -> str:
    if not SAFE_NAME.match(run_id):
        raise TrajectoryImportError(
            f"run id {run_id!r}: start with a letter or digit; use letters, digits, '.', '_', '-'")
    return run_id


def _read(path: Path, run_id: str, bundle: ToolBundle | None) -> Records:
    try:
        return convert(load_json(path), path, run_id, bundle)
    except TrajectoryImportError as exc:
        message = str(exc)
        raise TrajectoryImportError(
            message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def _write(records: Records, out_dir: Path) -> Path:
    header, steps, footer = records
    target = out_dir / f"{header.instance_id}.jsonl"
    try:
        with Recorder(target) as recorder:
            for record in (header, *steps, *([footer] if footer else [])):
                recorder.write(record)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
        raise TrajectoryImportError(f"{target}: cannot be written: {exc.strerror or exc}{where}") from None
    return target


def import_trajectory(path: Path, out_dir: Path, run_id: str | None = None) -> Path:
    """Write `<out_dir>/<instance_id>.jsonl` from a SWE-agent or mini-swe-agent file."""
    records = _read(Path(path), check_run_id(run_id or default_run_id(out_dir)), None)
    return _write(records, Path(out_dir))  # built in full first: a bad file writes nothing


def import_many(paths: list[Path], out_dir: Path, run_id: str | None = None) -> list[ImportOutcome]:
    """Import each file; a bad file is reported and the others still go through. A second
    file of an instance already imported in this call is refused rather than overwriting."""
    run_id, out_dir = check_run_id(run_id or default_run_id(out_dir)), Path(out_dir)
    bundle = load_bundle()
    outcomes: list[ImportOutcome] = []
    written: dict[str, str] = {}
    for path in map(Path, paths):
        outcome = ImportOutcome(source=str(path))
        outcomes.append(outcome)
        try:
            header, steps, footer = _read(path, run_id, bundle)
        except TrajectoryImportError as exc:
            outcome.error = str(exc)
            continue
        if header.instance_id in written:
            outcome.error = (f"{path}: instance {header.instance_id!r} was already imported "
                             f"from {written[header.instance_id]}")
            continue
        try:
            outcome.path = str(_write((header, steps, footer), out_dir))
        except TrajectoryImportError as exc:
            outcome.error = str(exc)
            continue
        written[header.instance_id] = str(path)
        outcome.format, outcome.steps = header.source, len(steps)
        outcome.exit_status = footer.exit_status if footer else None
    return outcomes
