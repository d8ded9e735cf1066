"""Seconds from Ctrl-C to the exit of `agentenv run`, with episodes in flight that cannot end
by themselves: one waiting on a model call (120 s), one running `sleep 300`, one being graded
(its patch makes the hidden tests' import sleep 600 s).

    python benchmarks/bench_stop.py [--repeat 3]

The LLM agent talks to the tests' scripted OpenAI-compatible server (tests/llm_stub.py) over
real HTTP; the episodes run in Docker. Target (issue 11): the run exits within seconds, every
interrupted episode has a footer, and no container is left. Without the stop, the run would
end when the last of them does: after 600 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripted model server lives with the tests

from agentenv.tasks.loader import load_tasks  # noqa: E402
from agentenv.trajectory.recorder import read_trajectory  # noqa: E402
from tests.llm_stub import Reply, StubLLMServer  # noqa: E402
from tests.stub_runs import SUBMIT, bash, kill_group, llm_config, run_containers, start_cli, steps_of, task_of, unique_run_id, wait_for  # noqa: E402

MODEL, COMMAND, GRADING = "spanlib-merge-nested-interval", "semverlib-prerelease-numeric-order", "kvconf-quoted-inline-comment"
MODEL_TOO = "memokit-ttl-read-extends-expiry"


def one_stop(scratch: Path, tasks: list, in_flight: list[str]) -> tuple[float, int, int]:
    """(seconds to exit, interrupted footers written, containers left) for one run."""
    run_id = unique_run_id("bench-stop")
    busy: set[str] = set()
    lock = threading.Lock()

    def stuck(request: dict) -> Reply:
        task_id, steps = task_of(request, tasks), steps_of(request)
        if task_id in (MODEL, MODEL_TOO):
            with lock:
                busy.add(task_id)
            return Reply(tool_calls=[SUBMIT], delay_s=120)
        if task_id == GRADING and steps == 0:
            return Reply(tool_calls=[bash("echo 'import time; time.sleep(600)' >> kvconf/__init__.py")])
        if task_id == GRADING:
            with lock:
                busy.add(task_id)
            return Reply(tool_calls=[SUBMIT])
        with lock:
            busy.add(task_id)
        return Reply(tool_calls=[bash("sleep 300")])

    with StubLLMServer(stuck) as server:
        config = llm_config(scratch, server.base_url, run_id, instance_ids=in_flight, workers=len(in_flight),
                            aci={"command_timeout": 600}, agent={"timeout_s": 300})
        process = start_cli("run", str(config), output=scratch / f"{run_id}.log")
        try:
            wait_for(lambda: busy == set(in_flight), 300, "every episode in flight", process)
            time.sleep(2.0)  # the command runs, the graded tests import the package
            os.killpg(process.pid, signal.SIGINT)
            signalled = time.perf_counter()
            process.wait(timeout=120)
            took = time.perf_counter() - signalled
        finally:
            kill_group(process, run_id)
            left = len(run_containers(run_id))
    footers = sum(
        1 for task_id in in_flight
        if (footer := read_trajectory(scratch / run_id / f"{task_id}.jsonl").footer) and footer.exit_status == "interrupted"
    )
    return took, footers, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AGENTENV_TEST_KEY", "sk-bench")
    tasks = load_tasks(ROOT / "tasks" / "demo")
    scenarios = {
        "2 episodes waiting on the model": [MODEL, MODEL_TOO],
        "model call + command + grading": [MODEL, COMMAND, GRADING],
    }
    print(f"{'in flight at Ctrl-C':<34} {'median s to exit':>16} {'max s':>7}  footers  containers left")
    with tempfile.TemporaryDirectory(prefix="agentenv-bench-stop-") as scratch:
        for name, in_flight in scenarios.items():
            runs = [one_stop(Path(scratch), tasks, in_flight) for _ in range(args.repeat)]
            times = [took for took, _, _ in runs]
            footers = min(f for _, f, _ in runs)
            left = max(c for _, _, c in runs)
            print(f"{name:<34} {statistics.median(times):>16.2f} {max(times):>7.2f}  {footers}/{len(in_flight)}"
                  f"      {left}")
    print("(without a stop, the run would end with its slowest episode: 600 s)")


if __name__ == "__main__":
    main()
