"""Every export, loaded back with `datasets` and checked against the formats TRL documents."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import datasets
import pytest

from agentenv.exports.build import export
from agentenv.feedback.store import FeedbackStore
from agentenv.rollout.config import load_config
from agentenv.rollout.replay import branch
from agentenv.rollout.runner import run
from agentenv.trajectory.recorder import read_trajectory

from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, local_provisioned) -> Path:
    """A real demo run (local runtime), one branch that fails, and some feedback."""
    output = tmp_path_factory.mktemp("runs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = load_config(REPO_ROOT / "configs" / "demo.yaml", runtime="local", output=str(output), run_id="exp")
        summary = run(config)
    folder = Path(summary.run_dir)
    memokit = folder / "memokit-ttl-read-extends-expiry.jsonl"
    # An unresolved sibling of the same task: the oracle's first steps, then a bad submit.
    failed_branch, _ = branch(memokit, 2, action="submit", runtime="local")
    with FeedbackStore(folder / "feedback.sqlite") as store:
        store.rate(memokit, 0, "correct", annotator="ann")
        store.rate(memokit, 1, "correct", annotator="ann")
        store.rate(memokit, 2, "incorrect", rewrite="edit 40:41\n        return value\nend_of_edit", reason="off by one", annotator="ann")
        store.rate(memokit, 3, "correct", annotator="ann")  # after the first incorrect: left out
        store.prefer(memokit, failed_branch, "a", reason="it fixed the bug", annotator="ann")
    return folder


def _by_id(run_dir: Path) -> dict:
    found = {}
    for path in run_dir.rglob("*.jsonl"):
        if path.name != "predictions.jsonl":
            trajectory = read_trajectory(path)
            found[trajectory.header.trajectory_id] = trajectory
    return found


def _load(path: Path) -> datasets.Dataset:
    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def _without_nulls(value):
    """Parquet unifies struct fields across rows: absent keys come back as None."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_sft_is_trls_conversational_format_with_tools(run_dir: Path, tmp_path: Path, file_format: str) -> None:
    out = tmp_path / f"sft.{file_format}"
    summary = export("sft", [run_dir], out, file_format=file_format)
    rows = _load(out)
    assert summary.records == len(rows) == 5  # four episodes and the branch
    assert {"messages", "tools"} <= set(rows.column_names)
    recorded = _by_id(run_dir)
    for row in rows:
        trajectory = recorded[row["trajectory_id"]]
        messages = _without_nulls(row["messages"])
        assert [m["role"] for m in messages[:2]] == ["system", "user"]
        assert messages[1]["content"] == trajectory.header.initial_observation
        steps = iter(trajectory.steps)
        for assistant, tool in zip(messages[2::2], messages[3::2], strict=True):
            step = next(steps)
            assert assistant["role"] == "assistant" and tool["role"] == "tool"
            (call,) = assistant["tool_calls"]
            assert call["type"] == "function" and call["id"] == tool["tool_call_id"]
            assert call["function"]["name"] == tool["name"] == step.info["command"]["name"]
            assert isinstance(call["function"]["arguments"], dict)
            assert call["function"]["arguments"] == _without_nulls(step.info["command"]["arguments"])
            assert tool["content"] == step.observation
        tool_names = {t["function"]["name"] for t in _without_nulls(row["tools"])}
        assert {"open", "edit", "submit", "str_replace"} <= tool_names


def test_sft_only_resolved(run_dir: Path, tmp_path: Path) -> None:
    assert export("sft", [run_dir], tmp_path / "r.jsonl", only_resolved=True).records == 4


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_rl_episodes(run_dir: Path, tmp_path: Path, file_format: str) -> None:
    out = tmp_path / f"rl.{file_format}"
    export("rl", [run_dir], out, file_format=file_format)
    rows = _load(out)
    assert len(rows) == 5
    for row in rows:
        steps = len(row["actions"])
        assert len(row["observations"]) == steps + 1
        assert len(row["rewards"]) == len(row["terminations"]) == len(row["truncations"]) == len(row["infos"]) == steps
        assert row["terminations"][-1] is True and row["actions"][-1] == "submit"
        assert row["rewards"][-1] == (1.0 if row["resolved"] else 0.0)
        assert set(row["infos"][0]) == {"command", "exit_code", "error", "duration_s"}


def test_dpo_from_preferences_and_outcomes(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    export("dpo", [run_dir], out)
    rows = _load(out)
    sources = sorted(rows["source"])
    assert sources == ["outcome", "preference"]
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["chosen"][0]["role"] == "assistant" and row["rejected"][0]["role"] == "assistant"
        assert row["chosen_id"].endswith("memokit-ttl-read-extends-expiry") and "@2-" in row["rejected_id"]
        assert row["chosen"] != row["rejected"]
    preference = next(r for r in rows if r["source"] == "preference")
    assert preference["reason"] == "it fixed the bug"


def test_prm_stops_at_the_first_incorrect_step_and_offers_the_rewrite(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "prm.jsonl"
    export("prm", [run_dir], out)
    rows = _load(out)
    assert len(rows) == 2
    original, rewritten = sorted(rows, key=lambda r: r["rewritten"])
    assert original["labels"] == [True, True, False] and len(original["completions"]) == 3
    assert rewritten["labels"] == [True, True, True]
    assert rewritten["completions"][:2] == original["completions"][:2]
    assert rewritten["completions"][2].startswith("edit 40:41")
    assert isinstance(original["prompt"], str) and "TTLCache" in original["prompt"]


def test_kto_unpaired_preferences(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "kto.parquet"
    export("kto", [run_dir], out, file_format="parquet")
    rows = _load(out)
    assert len(rows) == 5 and sorted(rows["label"]) == [False, True, True, True, True]
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["completion"][0]["role"] == "assistant"


def test_minari_dataset_opens(run_dir: Path, tmp_path: Path) -> None:
    import minari

    summary = export("minari", [run_dir], tmp_path / "minari", dataset_id="agentenv/exp-v0")
    import os

    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path / "minari")
    try:
        dataset = minari.load_dataset("agentenv/exp-v0")
        assert dataset.total_episodes == 5 == summary.records
        episode = next(iter(dataset.iterate_episodes()))
        assert len(episode.observations) == len(episode.actions) + 1
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def test_a_malformed_trajectory_stops_the_export_with_where(run_dir: Path, tmp_path: Path) -> None:
    from agentenv.exports.collect import ExportError

    broken_run = tmp_path / "broken"
    broken_run.mkdir()
    (broken_run / "x.jsonl").write_text(json.dumps({"record": "header"}) + "\n")
    with pytest.raises(ExportError, match=r"x\.jsonl:1: .*--skip-invalid"):
        export("sft", [broken_run], tmp_path / "o.jsonl")
    assert export("sft", [broken_run], tmp_path / "o.jsonl", skip_invalid=True).invalid == 1
