"""Grading overhead per patch: everything but the test command, against the test command.

    python benchmarks/bench_grading.py [--repeat 3]

Each demo task's reference patch is graded through `grade()` (fresh container, patch guards,
applying, the hidden tests, pytest's record, the trust checks); the test command's own time is
measured inside the same run. Target (DESIGN.md): overhead <= 0.5 s per patch.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.grading.grader import grade
from agentenv.tasks.loader import load_tasks

from _bench import DEMO_TASKS  # benchmarks/, the folder of this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tasks = load_tasks(DEMO_TASKS)
        starts = {t.instance_id: provision(t, RuntimeSettings(kind="docker")).start for t in tasks}
    rows = []
    for task in tasks:
        grade(task, task.patch, starts[task.instance_id])  # warm up
        totals, tests = [], []
        for _ in range(args.repeat):
            result = grade(task, task.patch, starts[task.instance_id])
            assert result.report.resolved
            totals.append(result.duration_s)
            tests.append(result.test_duration_s)
        total, test = statistics.median(totals), statistics.median(tests)
        rows.append((task.instance_id, total, test, total - test))
    width = max(len(r[0]) for r in rows)
    print(f"{'task':<{width}}  {'grade s':>8}  {'tests s':>8}  {'overhead s':>10}  overhead/tests")
    for name, total, test, overhead in rows:
        print(f"{name:<{width}}  {total:>8.3f}  {test:>8.3f}  {overhead:>10.3f}  {overhead / test:>6.2f}x")
    overheads = [r[3] for r in rows]
    print(f"median overhead per patch: {statistics.median(overheads):.3f} s (target <= 0.5 s)")


if __name__ == "__main__":
    main()
