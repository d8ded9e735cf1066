"""Trajectory files: written as they happen, read back with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentenv.trajectory.model import AgentInfo, StepRecord, TrajectoryFooter, TrajectoryHeader
from agentenv.trajectory.recorder import Recorder, TrajectoryError, read_trajectory


def _header() -> TrajectoryHeader:
    return TrajectoryHeader(
        run_id="r", instance_id="t-1", task={"instance_id": "t-1"}, agent=AgentInfo(name="oracle"),
        runtime="docker", initial_observation="problem",
    )


def _step(index: int) -> StepRecord:
    return StepRecord(index=index, action="bash true", observation="ok", reward=0.0, terminated=False, truncated=False)


def test_each_record_is_on_disk_as_soon_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "run" / "t-1.jsonl"
    recorder = Recorder(path)
    recorder.write(_header())
    recorder.write(_step(0))
    # Not closed: a reader (or a crash) sees both records already.
    partial = read_trajectory(path)
    assert partial.header.instance_id == "t-1" and len(partial.steps) == 1 and not partial.finished
    recorder.write(TrajectoryFooter(exit_status="submitted", steps=1, duration_s=1.0))
    recorder.close()
    assert read_trajectory(path).finished


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (["not json"], r":1: not valid JSON"),
        ([{"record": "step"}], r":1: field `step.index`: Field required"),
        ([{"record": "banana"}], r":1: .*record"),
        (["STEP0"], r":1: the first record must be the header"),
        (["HEADER", "STEP1"], r":2: step index 1, expected 0"),
        (["HEADER", "FOOTER", "STEP0"], r":3: a record after the footer"),
        (["HEADER", "HEADER"], r":2: a header may only be the first record"),
        ([], r"empty, no header"),
    ],
)
def test_malformed_trajectories_name_the_line_and_field(tmp_path: Path, records: list, message: str) -> None:
    named = {
        "HEADER": _header().model_dump_json(),
        "STEP0": _step(0).model_dump_json(),
        "STEP1": _step(1).model_dump_json(),
        "FOOTER": TrajectoryFooter(exit_status="submitted", steps=0, duration_s=0).model_dump_json(),
    }
    lines = [named.get(r, r) if isinstance(r, str) else json.dumps(r) for r in records]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(TrajectoryError, match=message):
        read_trajectory(path)


def test_unknown_fields_from_a_newer_writer_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    header = json.loads(_header().model_dump_json()) | {"new_field": [1, 2]}
    path.write_text(json.dumps(header) + "\n")
    assert read_trajectory(path).header.model_dump()["new_field"] == [1, 2]
