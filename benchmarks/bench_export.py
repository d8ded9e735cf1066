"""SFT export throughput: synthetic 30-step trajectories to Parquet, trajectories per minute.

    python benchmarks/bench_export.py [--trajectories 10000] [--steps 30] [--keep DIR]

The trajectories are written as files first (not timed), the way `agentenv run` leaves them,
with realistic observations (~1 KB) and parsed commands. Then, in the same run:
- baseline: reading every file with plain `json.loads` (no validation), the floor for any
  exporter that reads these files;
- the export: `agentenv export sft RUN_DIR --format parquet` as a library call (validate
  every record, build each conversation, write one Parquet file).
Target (DESIGN.md): at least 10,000 trajectories per minute.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from agentenv.exports.build import export
from agentenv.exports.collect import trajectory_files
from agentenv.trajectory.model import AgentInfo, StepRecord, TrajectoryFooter, TrajectoryHeader

COMMANDS = [
    ("open", {"path": "src/pkg/module.py", "line_number": 120}),
    ("search_dir", {"search_term": "def handle"}),
    ("edit", {"start_line": 40, "end_line": 42, "replacement_text": "    value = compute(x)\n    return value\n"}),
    ("bash", {"command": "python -m pytest -q tests/test_module.py"}),
]


def write_run(folder: Path, count: int, steps: int) -> None:
    observation = "\n".join(f"{n:>3}:    line {n} of the file with some code = value + {n}" for n in range(1, 18))
    for number in range(count):
        instance = f"task-{number:05d}"
        lines = [
            TrajectoryHeader(
                run_id="bench", instance_id=instance, task={"instance_id": instance}, agent=AgentInfo(name="synthetic"),
                runtime="docker", initial_observation="Problem statement.\n" + observation, tools=[],
            ).model_dump_json()
        ]
        for index in range(steps):
            name, arguments = COMMANDS[index % len(COMMANDS)]
            lines.append(
                StepRecord(
                    index=index, action=f"{name} ...", observation=observation, reward=0.0,
                    terminated=index == steps - 1, truncated=False, thought="Look at the next place.",
                    info={"command": {"name": name, "arguments": arguments, "syntax": "text"}, "exit_code": 0, "error": None},
                ).model_dump_json()
            )
        lines.append(TrajectoryFooter(exit_status="submitted", steps=steps, resolved=number % 3 == 0, duration_s=1.0).model_dump_json())
        (folder / f"{instance}.jsonl").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this folder")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="agentenv-bench-export-"))
    run_dir = scratch / "run"
    run_dir.mkdir()
    try:
        write_run(run_dir, args.trajectories, args.steps)
        size_mb = sum(p.stat().st_size for p in run_dir.iterdir()) / 1e6

        started = time.perf_counter()
        for path in trajectory_files(run_dir):
            for line in path.read_text().splitlines():
                json.loads(line)
        baseline_s = time.perf_counter() - started

        started = time.perf_counter()
        summary = export("sft", [run_dir], scratch / "sft.parquet", file_format="parquet")
        export_s = time.perf_counter() - started
        assert summary.records == args.trajectories
        rows = pq.read_metadata(scratch / "sft.parquet").num_rows
        assert rows == args.trajectories, rows

        per_minute = args.trajectories / export_s * 60
        print(f"{args.trajectories} trajectories x {args.steps} steps ({size_mb:.0f} MB of JSONL)")
        print(f"baseline, json.loads of every line:  {baseline_s:6.2f} s  ({args.trajectories / baseline_s * 60:,.0f} per minute)")
        print(f"export sft to parquet:               {export_s:6.2f} s  ({per_minute:,.0f} per minute; target >= 10,000)")
        parquet_mb = (scratch / "sft.parquet").stat().st_size / 1e6
        print(f"export / baseline: {export_s / baseline_s:.1f}x; parquet {parquet_mb:.2f} MB, {rows} rows")
        if args.keep:
            shutil.copytree(scratch, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
