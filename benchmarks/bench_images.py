"""What checking a cached image costs when a task is provisioned again.

    python benchmarks/bench_images.py [--repeat 10] [--task ID]

An image is checked once per image id (a container from it: no hidden test, a clean base
commit); the positive verdict is kept in the process and on disk. Printed, for one demo task
whose image is built first (not timed):
- provision, verdict in this process: what an env or a runner pays per task;
- provision, verdict on disk only: a new process;
- provision, no verdict: the check itself (the repository written to learn the base commit,
  and a container from the image);
- baseline: looking the image's tag up on the engine, all that reuse cost before checks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path

import docker

from agentenv.env.provision import RuntimeSettings, provision
from agentenv.runtime import image_check
from agentenv.tasks.loader import load_tasks

from _bench import DEMO_TASKS, median_ms, print_rows  # benchmarks/, the folder of this script


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--task", default=None, help="a demo task id (default: the first)")
    args = parser.parse_args()

    tasks = load_tasks(DEMO_TASKS)
    task = next((t for t in tasks if t.instance_id == args.task), tasks[0])
    settings = RuntimeSettings(kind="docker")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tag = provision(task, settings).image  # builds or finds the image: not timed
    assert tag is not None

    in_process_ms = median_ms(lambda: provision(task, settings), args.repeat)

    def from_disk() -> None:
        image_check.forget_verdicts()
        provision(task, settings)

    on_disk_ms = median_ms(from_disk, args.repeat)

    with tempfile.TemporaryDirectory() as empty:
        cache = Path(empty)

        def unchecked() -> None:
            image_check.forget_verdicts()
            for verdict in cache.glob("image-checks/*.json"):
                verdict.unlink()
            provision(task, settings)

        previous = os.environ.get("AGENTENV_CACHE")
        os.environ["AGENTENV_CACHE"] = str(cache)
        try:
            check_ms = median_ms(unchecked, max(3, args.repeat // 2))
        finally:
            if previous is None:
                del os.environ["AGENTENV_CACHE"]
            else:
                os.environ["AGENTENV_CACHE"] = previous

    client = docker.from_env()
    lookup_ms = median_ms(lambda: client.images.get(tag), args.repeat)
    rows = [
        ("provision, verdict in this process", in_process_ms, f"{task.instance_id}"),
        ("provision, verdict on disk (a new process)", on_disk_ms, ""),
        ("provision, no verdict: the image is checked", check_ms, "once per image id and cache"),
        (
            "  baseline: one image lookup on the engine",
            lookup_ms,
            f"in-process / lookup = {in_process_ms / lookup_ms:.1f}x",
        ),
    ]
    print_rows(rows, "note")


if __name__ == "__main__":
    main()
