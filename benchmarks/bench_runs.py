"""Episodes per minute of the oracle on the demo tasks: 1 and 2 local workers, and Ray.

    python benchmarks/bench_runs.py [--samples 3]

Each configuration runs every demo task --samples times (fresh run folders, images warm),
in one process. Target (DESIGN.md): 2 workers on 2 cores >= 1.8x the episodes per minute of 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from agentenv.rollout.config import load_config
from agentenv.rollout.runner import run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"


def episodes_per_minute(output: Path, name: str, **overrides: object) -> tuple[float, int]:
    config = load_config(CONFIG, output=str(output), run_id=name, runtime="docker", **overrides)
    started = time.perf_counter()
    summary = run(config)
    elapsed = time.perf_counter() - started
    assert all(e.resolved for e in summary.episodes), "the oracle resolves every demo task"
    return len(summary.episodes) / elapsed * 60, len(summary.episodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="agentenv-bench-runs-") as scratch:
        warnings.simplefilter("ignore")
        output = Path(scratch)
        episodes_per_minute(output, "warmup", samples=1, workers=1)  # images built, caches warm
        one, count = episodes_per_minute(output, "local-1", samples=args.samples, workers=1)
        two, _ = episodes_per_minute(output, "local-2", samples=args.samples, workers=2)
        ray_rate, _ = episodes_per_minute(output, "ray-2", samples=args.samples, workers=2, backend="ray")
    print(f"{count} oracle episodes per configuration (demo tasks x {args.samples} samples)")
    print(f"local backend, 1 worker:   {one:6.1f} episodes/min")
    print(f"local backend, 2 workers:  {two:6.1f} episodes/min  ({two / one:.2f}x 1 worker; target >= 1.8x)")
    print(f"ray backend,   2 workers:  {ray_rate:6.1f} episodes/min  ({ray_rate / one:.2f}x 1 worker, Ray start-up included)")


if __name__ == "__main__":
    main()
