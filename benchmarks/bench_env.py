"""Env step overhead and reset time, against raw baselines measured in the same run.

    python benchmarks/bench_env.py [--steps 300] [--resets 10]

Baselines, in the same container:
- `docker exec` per command (the Docker SDK's `exec_run`), what a naive env would pay;
- a bare persistent shell (`docker exec -i bash` and an echo marker), the floor for any
  shell round trip.
Targets (DESIGN.md): a step of `bash true` or `goto 1` <= 2 ms, >= 50x cheaper than an exec
per command; a reset to a fresh episode <= 0.4 s with the image warm.
"""

from __future__ import annotations

import argparse
import select
import statistics
import time
import warnings

import docker

from agentenv.env.swe_env import SWEEnv

from _bench import DEMO_TASKS, median_ms, print_rows  # benchmarks/, the folder of this script


def bare_shell_round_trip(container_id: str, repeat: int) -> float:
    client = docker.from_env()
    exec_id = client.api.exec_create(container_id, ["bash"], stdin=True)["Id"]
    attached = client.api.exec_start(exec_id, socket=True)
    sock = attached._sock

    def round_trip() -> None:
        sock.sendall(b"true; echo __done__\n")
        received = b""
        while b"__done__" not in received:
            select.select([sock], [], [], 5)
            received += sock.recv(65536)

    try:
        return median_ms(round_trip, repeat)
    finally:
        sock.sendall(b"exit\n")
        attached.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--resets", type=int, default=10)
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = SWEEnv(DEMO_TASKS, runtime="docker", max_steps=10**6, grade_on_submit=False)
        cold_env = SWEEnv(DEMO_TASKS, runtime="docker", max_steps=10, grade_on_submit=False, spare_runtime=False)
    task_id = env.task_ids[0]
    env.reset(options={"task_id": task_id})  # builds or finds the image: not timed

    samples = []
    for _ in range(args.resets):
        env.wait_for_spares()  # as between episodes, where the agent's steps take the time
        started = time.perf_counter()
        env.reset(options={"task_id": task_id})
        samples.append(time.perf_counter() - started)
    reset_ms = statistics.median(samples) * 1000
    cold_reset_ms = median_ms(lambda: cold_env.reset(options={"task_id": task_id}), args.resets)
    cold_env.close()

    # Step timings on a quiet machine: the spare started by the last reset, and the removal of
    # the containers before it, finish first.
    env.wait_for_spares()
    time.sleep(2)
    env.step("open README.md")
    bash_true_ms = median_ms(lambda: env.step("bash true"), args.steps)
    goto_ms = median_ms(lambda: env.step("goto 1"), args.steps)

    container = env.runtime.container  # type: ignore[union-attr]
    exec_ms = median_ms(lambda: container.exec_run(["true"]), max(20, args.steps // 10))
    bare_ms = bare_shell_round_trip(container.id, args.steps)
    image = env.provisioned(env.tasks[task_id]).image
    client = docker.from_env()

    def start_container() -> None:
        started = client.containers.create(image, ["sleep", "60"], network_mode="none")
        started.start()
        started.remove(force=True)

    start_ms = median_ms(start_container, max(5, args.resets))
    env.close()

    rows = [
        ("reset, spare runtime ready (the default)", reset_ms, "target <= 400 ms"),
        ("reset, no spare: start a container and a shell", cold_reset_ms, "target <= 400 ms"),
        ("  baseline: container create+start+remove", start_ms, f"no-spare reset / start = {cold_reset_ms / start_ms:.2f}x"),
        ("env step: bash true", bash_true_ms, f"target <= 2 ms; exec is {exec_ms / bash_true_ms:.0f}x slower"),
        ("env step: goto 1", goto_ms, f"target <= 2 ms; exec is {exec_ms / goto_ms:.0f}x slower"),
        ("  baseline: docker exec per command", exec_ms, ""),
        ("  baseline: bare persistent shell round trip", bare_ms, f"bash true / bare = {bash_true_ms / bare_ms:.1f}x"),
    ]
    print_rows(rows, "note")


if __name__ == "__main__":
    main()
