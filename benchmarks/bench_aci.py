"""Per-command overhead of the ACI, against raw baselines measured in the same run.

    python benchmarks/bench_aci.py [--repeat 100] [--files 5000]

In one container (the first demo task's image, with a generated tree of --files source files
added to the repo), each ACI command is timed through `ACI.step`, and set against
- the raw round trip of the same persistent shell (`true`), and
- for search_dir, the same grep run directly in that shell (what the command wraps).
A lint-guarded edit is timed on a ~300-line Python file, every call applying a real change.
"""

from __future__ import annotations

import argparse
import warnings

from agentenv.aci.interface import ACI, ACIConfig
from agentenv.env.swe_env import SWEEnv
from agentenv.runtime.shell import shell_word

from _bench import DEMO_TASKS, median_ms, print_rows  # benchmarks/, the folder of this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = SWEEnv(DEMO_TASKS, runtime="docker", max_steps=10**6, grade_on_submit=False, spare_runtime=False)
    env.reset(options={"task_id": env.task_ids[0]})
    runtime = env.runtime
    assert runtime is not None
    # A tree of --files small Python modules in 50 packages, one of them mentioning the term.
    runtime.run(
        f"cd /repo && mkdir -p gen && cd gen && for p in $(seq 0 49); do mkdir -p pkg$p; "
        f"for m in $(seq 0 $(({args.files} / 50 - 1))); do "
        f"printf 'def f_%s_%s(x):\\n    return x + %s\\n\\n\\nclass C%s:\\n    value = %s\\n' $p $m $m $m $m > pkg$p/mod$m.py; "
        f"done; done; echo 'NEEDLE_TERM = 1' >> pkg7/mod3.py; cd /repo",
        timeout=600,
    )
    counted = runtime.run("find /repo/gen -name '*.py' | wc -l").output.strip()
    big = "".join(f"def function_{i}(value):\n    total = value * {i}\n    return total + 1\n\n\n" for i in range(60))
    runtime.write_file("/repo/big_module.py", big.encode())
    aci = ACI(runtime, test_cmd="true", config=ACIConfig(), bundle=env.bundle)
    aci.step("open big_module.py")

    raw_ms = median_ms(lambda: runtime.run("true"), args.repeat)
    goto_ms = median_ms(lambda: aci.step("goto 150"), args.repeat)
    open_ms = median_ms(lambda: aci.step("open big_module.py 120"), args.repeat)
    grep = f"grep -rIcF --exclude-dir=.git -e NEEDLE_TERM -- {shell_word('/repo')} | grep -v ':0$'"
    raw_grep_ms = median_ms(lambda: runtime.run(grep), max(10, args.repeat // 5))
    search_ms = median_ms(lambda: aci.step("search_dir NEEDLE_TERM"), max(10, args.repeat // 5))
    assert "pkg7/mod3.py (1 matches)" in aci.step("search_dir NEEDLE_TERM").observation

    counter = iter(range(10**9))

    def guarded_edit() -> None:
        outcome = aci.step(f"edit 2:2\n    total = value * {next(counter)}\nend_of_edit")
        assert outcome.info["error"] is None, outcome.observation

    aci.step("open big_module.py")
    edit_ms = median_ms(guarded_edit, args.repeat)
    rejected = aci.step("edit 2:2\n    total = value * (\nend_of_edit")
    assert rejected.info["error"] == "edit_rejected"
    env.close()

    rows = [
        ("raw persistent-shell round trip (true)", raw_ms, ""),
        ("goto 150 (300-line file)", goto_ms, f"{goto_ms / raw_ms:.1f}x raw"),
        ("open big_module.py 120", open_ms, f"{open_ms / raw_ms:.1f}x raw"),
        (f"search_dir over {counted} files", search_ms, f"{search_ms / raw_grep_ms:.2f}x the same grep"),
        ("  baseline: the same grep in the shell", raw_grep_ms, f"{raw_grep_ms / raw_ms:.0f}x raw"),
        ("edit 2:2 with the lint guard (300 lines)", edit_ms, f"{edit_ms / raw_ms:.1f}x raw"),
    ]
    print_rows(rows, "ratio")


if __name__ == "__main__":
    main()
