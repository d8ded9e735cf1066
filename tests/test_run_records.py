"""The files a run keeps beside its trajectories: the spending ledger and config.json. Bad
content is named with its file and line; a record cut short by a kill is not an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentenv.rollout.config import ConfigError, RunConfig
from agentenv.rollout.ledger import CARRIED_OVER, LEDGER_FILE, Charge, LedgerError, SpendingLedger, carry_over, read_ledger, total
from agentenv.rollout.resume import ConfigChanged, config_changes, record_config
from agentenv.trajectory.model import ModelCall, StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder


def test_the_ledger_keeps_every_charge_in_order(tmp_path: Path) -> None:
    ledger = SpendingLedger(tmp_path / LEDGER_FILE)
    ledger.append(0.5, "run/a", "attempt-1")
    ledger.append(0.25, "run/a#1", "attempt-2")
    ledger.close()
    charges = read_ledger(tmp_path / LEDGER_FILE)
    assert [(c.trajectory_id, c.attempt_id, c.cost) for c in charges] == [("run/a", "attempt-1", 0.5), ("run/a#1", "attempt-2", 0.25)]
    assert all(c.schema_version == 1 for c in charges) and total(charges) == 0.75


def test_a_last_charge_cut_short_by_a_kill_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_FILE
    whole = Charge(trajectory_id="run/a", attempt_id="x", cost=0.5).model_dump_json()
    path.write_text(whole + "\n" + whole[:20])
    assert total(read_ledger(path)) == 0.5


@pytest.mark.parametrize(
    ("line", "says"),
    [("{not json", "not valid JSON"), ('{"trajectory_id": "a", "attempt_id": "b", "cost": -1}', "cost")],
)
def test_a_broken_charge_is_named_with_its_file_and_line(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / LEDGER_FILE
    whole = Charge(trajectory_id="run/a", attempt_id="x", cost=0.5).model_dump_json()
    path.write_text(f"{whole}\n{line}\n{whole}\n")
    with pytest.raises(LedgerError, match=rf"{LEDGER_FILE}:2: .*{says}"):
        read_ledger(path)


def _trajectory(path: Path, costs: list[float], footer: bool) -> None:
    with Recorder(path) as recorder:
        recorder.write(TrajectoryHeader(run_id="old", instance_id=path.stem, task={}, agent={"name": "llm"}, runtime="docker", initial_observation=""))
        for index, cost in enumerate(costs):
            recorder.write(StepRecord(index=index, action="a", observation="o", reward=0.0, terminated=False, truncated=False, model_call=ModelCall(cost=cost)))
        if footer:
            recorder.write(TrajectoryFooter(exit_status="env_error", steps=len(costs), cost=sum(costs) + 0.5, duration_s=1.0))


def test_a_run_folder_from_before_ledgers_carries_its_spending_over(tmp_path: Path) -> None:
    """Its trajectories' costs start the ledger (a footer's, or an unfinished one's steps')."""
    _trajectory(tmp_path / "a.jsonl", [0.25, 0.25], footer=True)
    _trajectory(tmp_path / "b.jsonl", [0.125], footer=False)
    carry_over(tmp_path, [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "missing.jsonl"])
    charges = read_ledger(tmp_path / LEDGER_FILE)
    assert {c.trajectory_id: c.cost for c in charges} == {"old/a": 1.0, "old/b": 0.125}
    assert {c.attempt_id for c in charges} == {CARRIED_OVER}
    carry_over(tmp_path, [tmp_path / "a.jsonl"])  # once only
    assert total(read_ledger(tmp_path / LEDGER_FILE)) == 1.125


def test_settings_that_cannot_change_results_are_not_changes() -> None:
    before = RunConfig(tasks="t").model_dump(mode="json")
    after = RunConfig(tasks="t", workers=8, backend="ray", cost_limit=3.0, samples=4, run_id="r", output="elsewhere").model_dump(mode="json")
    assert config_changes(before, after) == []
    changed = RunConfig(tasks="t", seed=3, limits={"memory": "2g"}).model_dump(mode="json")
    assert config_changes(before, changed) == ['limits.memory: "4g" -> "2g"', "seed: 0 -> 3"]


def test_an_unreadable_config_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{cut")
    with pytest.raises(ConfigError, match=r"config\.json: the run's config cannot be read"):
        record_config(tmp_path, RunConfig(tasks="t"))


def test_a_refused_change_names_every_setting_and_writes_nothing(tmp_path: Path) -> None:
    record_config(tmp_path, RunConfig(tasks="t"))
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(ConfigChanged) as caught:
        record_config(tmp_path, RunConfig(tasks="other", max_steps=9))
    assert "max_steps: 50 -> 9" in str(caught.value) and 'tasks: "t" -> "other"' in str(caught.value)
    assert (tmp_path / "config.json").read_text() == before
    assert json.loads(before)["tasks"] == "t"
