"""The LLM agent through the real path: litellm -> HTTP -> a scripted OpenAI-compatible server
started here, acting in a real container through the ACI."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentenv.exports.conversation import conversation
from agentenv.rollout.config import load_config
from agentenv.rollout.runner import run
from agentenv.tasks.model import Task
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT
from .llm_stub import Reply, StubLLMServer

PRICE_IN, PRICE_OUT = 0.001, 0.002  # USD per token: 100 + 20 tokens cost $0.14 a call


@pytest.fixture
def server() -> Iterator[StubLLMServer]:
    with StubLLMServer() as stub:
        yield stub


def _config(tmp_path: Path, server: StubLLMServer, *, runtime: str = "docker", **agent: Any) -> Path:
    """A run config for one demo task (or all, with instance_ids=None) and the stub model."""
    instance_ids = agent.pop("instance_ids", ["spanlib-merge-nested-interval"])
    run_settings = agent.pop("run", {})
    config = {
        "tasks": str(REPO_ROOT / "tasks" / "demo"),
        "instance_ids": instance_ids,
        "runtime": runtime,
        "max_steps": 10,
        "output": str(tmp_path / "runs"),
        "run_id": "llm",
        "agent": {
            "type": "llm",
            "model": "openai/stub-model",
            "api_base": server.base_url,
            "api_key_env": "AGENTENV_TEST_KEY",
            "input_cost_per_token": PRICE_IN,
            "output_cost_per_token": PRICE_OUT,
            "retry": {"attempts": 3, "initial_wait_s": 0.01, "max_wait_s": 0.05},
            "timeout_s": 5,
            **agent,
        },
        **run_settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    return path


def _run(config_path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(load_config(config_path))


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("AGENTENV_TEST_KEY", "sk-test")


def _call(name: str, **arguments: Any) -> Reply:
    return Reply(content=f"I will use {name}.", tool_calls=[{"name": name, "arguments": arguments}])


def _fix(task: Task) -> Reply:
    return _call("bash", command=f"git apply <<'EOF'\n{task.patch}EOF")


def _trajectory(tmp_path: Path, instance_id: str = "spanlib-merge-nested-interval"):
    return read_trajectory(tmp_path / "runs" / "llm" / f"{instance_id}.jsonl")


def test_function_calling_end_to_end(server, docker_provisioned, demo_task: Task, tmp_path: Path) -> None:
    server.push(_call("find_file", file_name="ops.py"), _fix(demo_task), _call("submit"))
    summary = _run(_config(tmp_path, server))
    (episode,) = summary.episodes
    assert episode.exit_status == "submitted" and episode.resolved
    assert episode.cost == pytest.approx(3 * (100 * PRICE_IN + 20 * PRICE_OUT))
    trajectory = _trajectory(tmp_path)
    assert [s.info["command"]["name"] for s in trajectory.steps] == ["find_file", "bash", "submit"]
    requests = server.requests
    assert len(requests) == 3 and all(r["tools"] and r["model"] == "stub-model" for r in requests)
    # Every step records exactly what was sent, the reply, usage and cost.
    for step, request in zip(trajectory.steps, requests, strict=True):
        assert step.model_call.messages == request["messages"]
        assert step.model_call.response["tool_calls"][0]["function"]["name"] == step.info["command"]["name"]
        assert step.model_call.usage["prompt_tokens"] == 100 and step.model_call.cost == pytest.approx(0.14)
    # Observations go back as tool messages answering the call.
    second = requests[1]["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == second[-2]["tool_calls"][0]["id"]
    assert "/repo/spanlib/ops.py" in second[-1]["content"]
    # The SFT conversation of an LLM trajectory is what it was sent last and what it replied.
    assert conversation(trajectory) == requests[-1]["messages"] + [trajectory.steps[-1].model_call.response]


def test_text_mode_end_to_end(server, docker_provisioned, demo_task: Task, tmp_path: Path) -> None:
    server.push(
        Reply(content="DISCUSSION\nFind the merge code first.\n\n```\nfind_file ops.py\n```"),
        Reply(content=f"Apply the fix.\n```bash\nbash git apply <<'EOF'\n{demo_task.patch}EOF\n```"),
        Reply(content="Done.\n```\nsubmit\n```"),
    )
    summary = _run(_config(tmp_path, server, mode="text"))
    assert summary.episodes[0].resolved
    requests = server.requests
    assert "tools" not in requests[0]
    system = requests[0]["messages"][0]["content"]
    assert "exactly one command in a fenced code block" in system and "str_replace <path>" in system
    trajectory = _trajectory(tmp_path)
    assert trajectory.steps[0].thought == "DISCUSSION\nFind the merge code first."
    assert trajectory.steps[0].action == "find_file ops.py"
    assert requests[1]["messages"][-1]["role"] == "user"  # the observation, as the next message


def test_transient_failures_are_retried(server, docker_provisioned, demo_task: Task, tmp_path: Path) -> None:
    server.push(
        Reply(status=429, error_message="slow down"),
        Reply(status=500, error_message="boom"),
        _call("submit"),
    )
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "submitted"
    assert server.status_counts == {429: 1, 500: 1, 200: 1}


def test_authentication_errors_are_not_retried(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(Reply(status=401, error_message="bad key"), _call("submit"))
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "auth_error"
    assert len(server.requests) == 1
    assert "bad key" in _trajectory(tmp_path).footer.error


def test_a_persistent_outage_ends_the_episode_after_the_retries(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(*[Reply(status=503, error_message="down")] * 3)
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "model_error" and len(server.requests) == 3


def test_a_slow_reply_times_out_and_is_retried(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(Reply(delay_s=3, content="late"), _call("submit"))
    summary = _run(_config(tmp_path, server, timeout_s=0.5))
    assert summary.episodes[0].exit_status == "submitted" and len(server.requests) == 2


def test_format_errors_are_reasked_then_given_up(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(
        Reply(content="I think I should look around."),  # no tool call
        Reply(tool_calls=[{"name": "goto", "arguments": "{not json"}]),
        Reply(tool_calls=[{"name": "goto", "arguments": {"line_number": 1}}, {"name": "goto", "arguments": {"line_number": 2}}]),
        Reply(content="Still no call."),
    )
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "format_error"
    assert len(server.requests) == 4  # the first try and 3 re-asks
    third = server.requests[2]["messages"]
    assert third[-1]["role"] == "tool" and "not valid JSON" in third[-1]["content"]
    assert server.requests[1]["messages"][-1]["content"].startswith("Your last reply could not be used: it called no tool")


def test_a_reasked_step_succeeds_and_records_the_reasks(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(Reply(content="Let me think."), _call("submit"))
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "submitted"
    step = _trajectory(tmp_path).steps[0]
    assert step.model_call.reasks == 1 and step.model_call.cost == pytest.approx(0.28)
    assert len(step.model_call.messages) == 4  # system, instance, the bad reply, the re-ask


def test_the_episode_cost_limit_holds_and_says_so(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(*[_call("bash", command="true")] * 10)
    summary = _run(_config(tmp_path, server, cost_limit=0.3))  # $0.14 a call: 3 calls reach it
    (episode,) = summary.episodes
    assert episode.exit_status == "cost_limit"
    assert len(server.requests) == 3 and episode.cost == pytest.approx(0.42)
    assert _trajectory(tmp_path).footer.exit_status == "cost_limit"


def test_the_call_limit_counts_failed_calls_too(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(Reply(status=500), Reply(status=500), _call("bash", command="true"), _call("submit"))
    summary = _run(_config(tmp_path, server, call_limit=3))
    assert summary.episodes[0].exit_status == "call_limit"
    assert len(server.requests) == 3


def test_history_keeps_the_last_observations_in_full(server, docker_provisioned, tmp_path: Path) -> None:
    server.push(*[_call("bash", command=f"echo output-{n}") for n in range(4)], _call("submit"))
    _run(_config(tmp_path, server, history_keep_last=2))
    last = server.requests[-1]["messages"]
    contents = [m["content"] for m in last if m["role"] == "tool"]
    assert "left out here to save context" in contents[0] and "left out" in contents[1]
    assert contents[2].startswith("output-2") and contents[3].startswith("output-3")


def test_the_runs_total_cost_limit_stops_new_calls(server, docker_provisioned, demo_tasks, tmp_path: Path) -> None:
    def policy(request: dict) -> Reply:
        steps = sum(1 for m in request["messages"] if m["role"] == "assistant")
        return _call("bash", command="true") if steps < 2 else _call("submit")

    server.set_script(policy)
    config = _config(tmp_path, server, instance_ids=None, run={"cost_limit": 0.5, "workers": 1})
    summary = _run(config)
    statuses = sorted(e.exit_status for e in summary.episodes)
    assert "run_cost_limit" in statuses and "submitted" in statuses
    assert len(server.requests) <= 5  # $0.14 a call: the 4th call reaches $0.56, nothing after
    assert summary.report["total_cost"] == pytest.approx(0.14 * len(server.requests))


def test_missing_api_key_is_an_auth_error(server, docker_provisioned, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AGENTENV_TEST_KEY")
    summary = _run(_config(tmp_path, server))
    assert summary.episodes[0].exit_status == "auth_error" and not server.requests
    assert "AGENTENV_TEST_KEY" in _trajectory(tmp_path).footer.error




# -- what an episode is charged: agentenv's pricing rules, whatever litellm's internals are --


@pytest.fixture
def litellm_prices_restored() -> Iterator[None]:
    # register_model writes into litellm's process-wide price map; undo it for other tests.
    import litellm

    before = dict(litellm.model_cost)
    yield
    for name in set(litellm.model_cost) - set(before):
        del litellm.model_cost[name]
    litellm.model_cost.update(before)


def _one_call_cost(server: StubLLMServer, **agent: Any) -> float:
    """The cost the LLM agent records for one model call answered by `server`."""
    from agentenv.aci.tools import load_bundle
    from agentenv.agents.llm import LLMAgent
    from agentenv.agents.llm_config import LLMAgentConfig
    from agentenv.agents.prompts import Templates

    config = LLMAgentConfig.model_validate(
        {"api_base": server.base_url, "api_key_env": "AGENTENV_TEST_KEY", "timeout_s": 5, "retry": {"attempts": 1}, **agent}
    )
    llm = LLMAgent(config, load_bundle(), Templates(config.templates, REPO_ROOT / "configs"))
    llm.reset("Fix the bug.", {"problem_statement": "Fix the bug."})
    step = llm.act("Fix the bug.", {})
    assert step.model_call is not None and json.loads(step.action)["name"] == "open"
    return step.model_call.cost


def test_configured_prices_charge_every_token() -> None:
    reply = Reply(content="Looking.", tool_calls=[{"name": "open", "arguments": {"path": "a.py"}}], prompt_tokens=1000, completion_tokens=100)
    with StubLLMServer([reply], model="local-model") as server:
        cost = _one_call_cost(server, model="openai/local-model", input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    assert cost == pytest.approx(1000 * 1e-6 + 100 * 2e-6)


def test_a_listed_model_is_charged_under_the_name_asked_for(litellm_prices_restored: None) -> None:
    # Servers often answer with a dated snapshot name that no price list has.
    import litellm

    litellm.register_model(
        {"openai/priced-model": {"input_cost_per_token": 3e-6, "output_cost_per_token": 4e-6, "litellm_provider": "openai", "mode": "chat"}}
    )
    reply = Reply(content="Looking.", tool_calls=[{"name": "open", "arguments": {"path": "a.py"}}], prompt_tokens=1000, completion_tokens=100)
    with StubLLMServer([reply], model="priced-model-2026-01-01") as server:
        cost = _one_call_cost(server, model="openai/priced-model")
    assert cost == pytest.approx(1000 * 3e-6 + 100 * 4e-6)


def test_a_model_without_a_price_is_free_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    reply = Reply(content="Looking.", tool_calls=[{"name": "open", "arguments": {"path": "a.py"}}], prompt_tokens=1000, completion_tokens=100)
    with StubLLMServer([reply], model="never-priced") as server:
        with caplog.at_level("WARNING", logger="agentenv.agents.llm"):
            cost = _one_call_cost(server, model="openai/never-priced")
    assert cost == 0.0
    assert "no price known for openai/never-priced" in caplog.text
