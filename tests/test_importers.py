"""Importing SWE-agent and mini-swe-agent trajectories: what each file becomes, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agentenv.cli.traj_import import import_
from agentenv.importing.convert import (
    TrajectoryImportError,
    detect_format,
    import_many,
    import_trajectory,
)
from agentenv.trajectory.recorder import Trajectory, read_trajectory

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
SWE_AGENT_0 = FIXTURES / "swe-agent-0.x" / "demo__calc-1.traj"
SWE_AGENT_1 = FIXTURES / "swe-agent-1.x" / "function-calling-run.traj"
MINI_1 = FIXTURES / "mini-swe-agent-1.x" / "demo__calc-3.traj.json"
MINI_2 = FIXTURES / "mini-swe-agent-2.x" / "demo__calc-4.traj.json"
GOOD = [SWE_AGENT_0, SWE_AGENT_1, MINI_1, MINI_2]


def _bash(command: str) -> dict[str, Any]:
    return {"name": "bash", "arguments": {"command": command}, "syntax": "text"}


def _command(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "syntax": "text"}


EXPECTED = {
    SWE_AGENT_0: {
        "format": "swe-agent", "instance": "demo__calc-1", "model": "gpt4",
        "actions": ['find_file "calc.py"\n', "open calc.py 2\n", "edit 2:2\n    return a + b\nend_of_edit\n",
                    'python -c "from calc import add; print(add(2, 3))"\n', "submit\n"],
        "commands": [_command("find_file", file_name="calc.py"), _command("open", path="calc.py", line_number=2),
                     _command("edit", start_line=2, end_line=2, replacement_text="    return a + b\n"),
                     None, _command("submit")],
        "exit": ("submitted", "submitted"), "submitted": True, "cost": 0.0421, "ends": (True, False),
    },
    SWE_AGENT_1: {
        "format": "swe-agent", "instance": "demo__calc-2", "model": "claude-sonnet-4-20250514",
        "actions": ["bash ls", "", "open calc.py",
                    "str_replace_editor str_replace /testbed/calc.py --old_str 'a - b' --new_str 'a + b'", "submit"],
        "commands": [_bash("ls"), None, _command("open", path="calc.py"), None, _command("submit")],
        "exit": ("submitted", "submitted (exit_cost)"), "submitted": True, "cost": 1.02, "ends": (True, False),
    },
    MINI_1: {
        "format": "mini-swe-agent", "instance": "demo__calc-3", "model": "openai/gpt-4o-mini",
        "actions": ["bash cat calc.py", None,
                    "bash sed -i 's/a - b/a + b/' calc.py && python -c 'from calc import add; print(add(2, 3))'",
                    "bash echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"],
        "commands": [_bash("cat calc.py"), None,
                     _bash("sed -i 's/a - b/a + b/' calc.py && python -c 'from calc import add; print(add(2, 3))'"),
                     _bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached")],
        "exit": ("submitted", "Submitted"), "submitted": True, "cost": 0.0312, "ends": (True, False),
    },
    MINI_2: {
        "format": "mini-swe-agent", "instance": "demo__calc-4", "model": "anthropic/claude-sonnet-4-5",
        "actions": ["bash cat calc.py", "I will now fix the bug.", "bash sed -i 's/a - b/a + b/' src/calc.py"],
        "commands": [_bash("cat calc.py"), None, _bash("sed -i 's/a - b/a + b/' src/calc.py")],
        "exit": ("cost_limit", "LimitsExceeded"), "submitted": False, "cost": 0.06, "ends": (False, True),
    },
}


def _import(path: Path, tmp_path: Path, **kwargs: Any) -> Trajectory:
    return read_trajectory(import_trajectory(path, tmp_path / "run", **kwargs))


@pytest.mark.parametrize("source", GOOD, ids=lambda p: p.parent.name)
def test_each_fixture_imports_and_reads_back(source: Path, tmp_path: Path) -> None:
    expected = EXPECTED[source]
    assert detect_format(json.loads(source.read_text())) == expected["format"]
    written = import_trajectory(source, tmp_path / "run")
    assert written == tmp_path / "run" / f"{expected['instance']}.jsonl"
    trajectory = read_trajectory(written)
    header, steps, footer = trajectory.header, trajectory.steps, trajectory.footer
    assert header.run_id == "run" and header.trajectory_id == f"run/{expected['instance']}"
    assert header.instance_id == header.task["instance_id"] == expected["instance"]
    assert header.source == expected["format"] and header.runtime == "imported"
    assert header.agent.name == expected["format"] and header.agent.model == expected["model"]
    assert "add() subtracts" in header.initial_observation and header.task["problem_statement"]
    assert len(steps) == len(expected["actions"]) == footer.steps
    for step, action in zip(steps, expected["actions"], strict=True):
        if action is not None:
            assert step.action == action
    assert [s.info["command"] for s in steps] == expected["commands"]
    assert all(s.observation or s.info["error"] == "parse_error" for s in steps)
    assert all(s.reward == 0.0 for s in steps)
    assert [(s.terminated, s.truncated) for s in steps[:-1]] == [(False, False)] * (len(steps) - 1)
    assert (steps[-1].terminated, steps[-1].truncated) == expected["ends"]
    assert footer is not None and (footer.exit_status, footer.source_exit_status) == expected["exit"]
    assert footer.cost == pytest.approx(expected["cost"])
    if expected["submitted"]:
        assert footer.submission.startswith("diff --git a/calc.py b/calc.py")
    else:
        assert footer.submission is None
    # Every reply came from the model: what it was sent and what it said.
    assert all(s.model_call and s.model_call.messages and s.model_call.response for s in steps)
    assert header.tools == []


def test_swe_agent_0x_rebuilds_what_the_model_was_sent_from_the_history(tmp_path: Path) -> None:
    trajectory = _import(SWE_AGENT_0, tmp_path)
    first = trajectory.steps[0].model_call
    assert [m["role"] for m in first.messages] == ["system", "user", "user"]  # system, demo, instance
    assert trajectory.header.initial_observation.startswith("We're currently solving")  # not the demo
    assert [len(s.model_call.messages) for s in trajectory.steps] == [3, 5, 7, 9, 11]
    assert {s.model_call.model_extra["messages_from"] for s in trajectory.steps} == {"history"}
    # Their bookkeeping is not part of a chat message.
    assert all(set(m) <= {"role", "content"} for s in trajectory.steps for m in s.model_call.messages)
    assert trajectory.steps[1].info["state"] == {"open_file": "/demo__calc/calc.py", "working_dir": "/demo__calc"}
    assert trajectory.steps[0].thought == "I'll look for the file that defines add.\n"
    assert trajectory.steps[0].model_call.response["content"].endswith('find_file "calc.py"\n```')
    assert trajectory.footer.model_stats["tokens_sent"] == 9120
    assert trajectory.header.config["replay_config"]["environment"]["data_path"] == "demo.jsonl"


def test_swe_agent_1x_keeps_queries_tool_calls_and_what_agentenv_cannot_parse(tmp_path: Path) -> None:
    trajectory = _import(SWE_AGENT_1, tmp_path)
    header, steps, footer = trajectory.header, trajectory.steps, trajectory.footer
    assert header.image == "python:3.11" and header.base_commit == "abc1234"
    assert header.versions == {"swe-agent": "1.1.0", "swe-rex": "1.2.0"}
    assert header.task["problem_statement"] == "add() subtracts: add(2, 3) returns -1 instead of 5."
    assert [len(s.model_call.messages) for s in steps] == [2, 4, 6, 6, 8]
    assert {s.model_call.model_extra["messages_from"] for s in steps} == {"query"}
    # A function call to an agentenv command is stored as agentenv writes it; theirs is kept.
    assert steps[0].info["source_action"] == "ls" and steps[2].info["source_action"] == 'open "calc.py"'
    assert steps[0].model_call.response["tool_calls"][0]["function"]["name"] == "bash"
    # The requery after a format error: a step of its own, an error like agentenv's.
    assert steps[1].info["error"] == "parse_error" and steps[1].model_call.response["content"].startswith("I think")
    assert "tool_calls" not in steps[1].model_call.response
    assert steps[3].info["command"] is None and "parse_error" not in steps[3].info
    tool_replies = [m for m in steps[4].model_call.messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_replies] == ["call_1", "call_2", "call_3"]
    assert steps[0].timings == {"env_s": 0.052} and steps[0].info["duration_s"] == 0.052
    assert steps[4].info["extra_info"] == {"review": "skipped"}
    assert footer.source_info["swe_agent_hash"] == "0000000" and "edited_files30" in footer.source_info


def test_mini_swe_agent_1x_reads_bash_blocks_format_errors_and_return_codes(tmp_path: Path) -> None:
    trajectory = _import(MINI_1, tmp_path)
    steps = trajectory.steps
    assert [len(s.model_call.messages) for s in steps] == [2, 4, 6, 8]
    assert steps[0].thought == "THOUGHT: Read the code first." and steps[0].info["source_action"] == "cat calc.py"
    assert [s.info["exit_code"] for s in steps] == [0, None, 0, None]
    bad = steps[1]  # two bash blocks: the reply as its text, the format error as what it got back
    assert bad.info["error"] == "parse_error" and len(bad.info["actions"]) == 2
    assert bad.action.startswith("THOUGHT: Fix and test.") and bad.observation.startswith("Please always provide")
    assert steps[-1].observation == trajectory.footer.submission  # mini answers a submission with it
    assert trajectory.header.image.startswith("docker.io/swebench/")
    assert trajectory.header.versions == {"mini-swe-agent": "1.9.1", "trajectory_format": "mini-swe-agent-1"}
    assert trajectory.header.agent.model_extra["agent_type"].endswith("ProgressTrackingAgent")
    assert trajectory.header.config["agent"]["cost_limit"] == 3.0


def test_mini_swe_agent_2x_reads_tool_calls_extras_and_the_exit_message(tmp_path: Path) -> None:
    trajectory = _import(MINI_2, tmp_path)
    steps, footer = trajectory.steps, trajectory.footer
    assert [s.model_call.cost for s in steps] == [0.02, 0.0, 0.02]
    assert steps[0].model_call.usage == {"prompt_tokens": 900, "completion_tokens": 20}
    assert steps[0].model_call.response["tool_calls"][0]["id"] == "call_a"
    assert "extra" not in steps[0].model_call.response
    assert steps[0].timestamp.startswith("2025-01-01T00:00:00")
    # A format error in 2.x is a user message holding the bad reply: a step, as agentenv has it.
    assert steps[1].info["error"] == "parse_error" and steps[1].observation.startswith("No tool calls found")
    assert len(steps[1].model_call.messages) == 4 and steps[2].model_call.messages[-1]["role"] == "user"
    assert [s.info["exit_code"] for s in steps] == [0, None, 2]
    assert steps[2].observation.endswith("</output>")  # the closing exit message is not in it
    assert footer.duration_s == pytest.approx(11.0) and footer.submission is None


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("source", "status", "mapped"),
    [
        (SWE_AGENT_0, "exit_context", "agent_error"),
        (SWE_AGENT_0, "exit_cost", "cost_limit"),
        (SWE_AGENT_0, "exit_environment_error", "env_error"),
        (SWE_AGENT_0, "exit_forfeit", "exit_forfeit"),  # no obvious counterpart: kept
        (MINI_1, "RuntimeError", "RuntimeError"),
    ],
)
def test_exit_statuses_map_to_agentenvs_or_stay_theirs(source: Path, status: str, mapped: str, tmp_path: Path) -> None:
    data = json.loads(source.read_text())
    data["info"]["exit_status"] = status
    trajectory = _import(_write_json(tmp_path / source.name, data), tmp_path)
    assert (trajectory.footer.exit_status, trajectory.footer.source_exit_status) == (mapped, status)
    assert not trajectory.steps[-1].terminated
    assert trajectory.steps[-1].truncated == (mapped == "cost_limit")


def test_a_mini_step_limit_is_a_call_limit(tmp_path: Path) -> None:
    data = json.loads(MINI_1.read_text())
    data["info"].update(exit_status="LimitsExceeded", submission="")
    data["info"]["config"]["agent"]["step_limit"] = 4
    trajectory = _import(_write_json(tmp_path / "limited.traj.json", data), tmp_path)
    assert trajectory.footer.exit_status == "call_limit" and trajectory.steps[-1].truncated


def test_a_run_without_an_exit_status_is_unfinished(tmp_path: Path) -> None:
    data = json.loads(SWE_AGENT_0.read_text())
    data["info"] = {"exit_status": None, "submission": None, "model_stats": {}}
    trajectory = _import(_write_json(tmp_path / "demo__calc-1.traj", data), tmp_path)
    assert not trajectory.finished and len(trajectory.steps) == 5
    assert not any(s.terminated or s.truncated for s in trajectory.steps)


def test_a_retry_run_saved_before_choosing_imports_its_latest_attempt(tmp_path: Path) -> None:
    attempt = json.loads(SWE_AGENT_1.read_text())
    first = {**attempt, "trajectory": attempt["trajectory"][:1], "info": {"exit_status": "exit_format"}}
    path = _write_json(tmp_path / "retry.traj", {"attempts": [first, attempt]})
    trajectory = _import(path, tmp_path)
    assert len(trajectory.steps) == 5 and trajectory.header.model_extra["source_attempts"] == 2


def test_steps_without_messages_fall_back_to_agentenvs_tools(tmp_path: Path) -> None:
    data = json.loads(SWE_AGENT_0.read_text())
    data["history"] = []  # nothing to rebuild the model's input from
    trajectory = _import(_write_json(tmp_path / "demo__calc-1.traj", data), tmp_path)
    assert trajectory.header.initial_observation == ""
    assert all(s.model_call.messages == [] for s in trajectory.steps)
    assert {t["function"]["name"] for t in trajectory.header.tools} >= {"bash", "open", "submit"}


def test_instance_ids_become_safe_file_names(tmp_path: Path) -> None:
    data = json.loads(MINI_2.read_text())
    data["instance_id"] = "../../etc/passwd"
    written = import_trajectory(_write_json(tmp_path / "x.traj.json", data), tmp_path / "run")
    assert written == tmp_path / "run" / "etc_passwd.jsonl"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-json.traj", r"not-json\.traj: not valid JSON: .* \(line 3\)"),
        ("neither.json", r"neither\.json: neither a SWE-agent trajectory \(no `trajectory` key\) nor a mini-swe-agent one"),
        ("swe-agent-wrong-types.traj", r"wrong-types\.traj: not a valid SWE-agent trajectory: field `trajectory\.0\.action`: Input should be a valid string"),
        ("mini-missing-role.traj.json", r"missing-role\.traj\.json: not a valid mini-swe-agent trajectory: field `messages\.0\.role`: Field required"),
        ("top-level-list.traj", r"top-level-list\.traj: the top level is a JSON list, not an object"),
        ("no-such-file.traj", r"no-such-file\.traj: cannot be read"),
    ],
)
def test_malformed_files_give_errors_naming_the_file_and_the_problem(name: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(TrajectoryImportError, match=message):
        import_trajectory(FIXTURES / "malformed" / name, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_detect_format_refuses_what_is_neither() -> None:
    with pytest.raises(TrajectoryImportError, match="neither"):
        detect_format({"info": {}})
    with pytest.raises(TrajectoryImportError, match="JSON str, not an object"):
        detect_format("trajectory")
    assert detect_format({"trajectory_format": "mini-swe-agent-1.1", "trajectory": []}) == "mini-swe-agent"


def test_a_bad_run_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryImportError, match="run id '../x'"):
        import_many([MINI_1], tmp_path, run_id="../x")


# -- the command -------------------------------------------------------------------------
def _app() -> typer.Typer:
    traj = typer.Typer()
    traj.command("import")(import_)
    app = typer.Typer()
    app.add_typer(traj, name="traj")
    return app


def test_the_command_converts_several_files_at_once(tmp_path: Path) -> None:
    out = tmp_path / "imported-run"
    result = CliRunner().invoke(_app(), ["traj", "import", *map(str, GOOD), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "imported 4 of 4 files" in result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"demo__calc-{n}.jsonl" for n in range(1, 5)]
    assert {read_trajectory(out / name).header.run_id for name in written} == {"imported-run"}


def test_the_command_defaults_to_trajectories_run_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_app(), ["traj", "import", str(MINI_1), "--run-id", "mini-import"])
    assert result.exit_code == 0, result.output
    trajectory = read_trajectory(tmp_path / "trajectories" / "mini-import" / "demo__calc-3.jsonl")
    assert trajectory.header.trajectory_id == "mini-import/demo__calc-3"


def test_the_command_reports_bad_files_without_a_traceback(tmp_path: Path) -> None:
    bad = [FIXTURES / "malformed" / "neither.json", FIXTURES / "malformed" / "not-json.traj"]
    args = ["traj", "import", str(MINI_1), *map(str, bad), str(MINI_1), "--out", str(tmp_path)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "neither.json: neither a SWE-agent trajectory" in result.output
    assert "not-json.traj: not valid JSON" in result.output
    assert "'demo__calc-3' was already imported from" in result.output  # never overwritten
    assert "imported 1 of 4 files" in result.output
    assert read_trajectory(tmp_path / "demo__calc-3.jsonl").finished


def test_the_command_refuses_a_bad_run_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["traj", "import", str(MINI_1), "--out", str(tmp_path), "--run-id", "a b"])
    assert result.exit_code == 2 and "run id 'a b'" in result.output and "Traceback" not in result.output
