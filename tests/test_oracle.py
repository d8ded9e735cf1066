"""The oracle replays any reference patch through the ACI: the tree it leaves is the tree
the patch gives, whatever the patch holds (insertions, deletions, new, removed and renamed
files, a file without a final newline)."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

from agentenv.agents.oracle import OracleAgent
from agentenv.env.swe_env import SWEEnv
from agentenv.tasks.model import Task


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def test_oracle_reproduces_a_tricky_patch(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "a.py").write_text("".join(f"line_{i} = {i}\n" for i in range(1, 41)))
    (base / "gone.py").write_text("x = 1\n")
    (base / "moved.txt").write_text("stays the same\n")
    (base / "tail.txt").write_text("last line without newline")
    _git(base, "init", "-q")
    _git(base, "add", "-A")
    _git(base, "commit", "-qm", "base")

    target = tmp_path / "target"
    subprocess.run(["cp", "-a", str(base), str(target)], check=True)
    lines = (target / "a.py").read_text().splitlines(keepends=True)
    lines.insert(0, "# header\n")  # insertion at the top
    lines[5:7] = []  # a deletion
    lines.insert(20, "inserted = True\n")  # a pure insertion
    lines[30] = "line_changed = 0\n"  # a replacement
    lines.append("appended = 1\n")
    (target / "a.py").write_text("".join(lines))
    (target / "gone.py").unlink()
    (target / "new_pkg").mkdir()
    (target / "new_pkg" / "mod.py").write_text("def f():\n    return 1\n")
    _git(target, "mv", "moved.txt", "renamed.txt")
    (target / "tail.txt").write_text("last line changed, still without newline")
    _git(target, "add", "-A")
    patch = _git(target, "diff", "--cached", "--binary", "HEAD")

    base_commit = _git(base, "rev-parse", "HEAD").strip()
    task = Task(instance_id="tricky", repo_source=str(base), base_commit=base_commit, problem_statement="p", patch=patch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = SWEEnv([task], runtime="local", max_steps=40, grade_on_submit=False)
    agent = OracleAgent({task.instance_id: task})
    try:
        observation, info = env.reset(options={"task_id": task.instance_id})
        agent.reset(observation, info)
        while True:
            observation, _, terminated, truncated, info = env.step(agent.act(observation, info).action)
            assert info["error"] is None, observation
            if terminated or truncated:
                break
        assert terminated
        submitted = info["patch"]
    finally:
        env.close()

    replay = tmp_path / "replay"
    subprocess.run(["cp", "-a", str(base), str(replay)], check=True)
    (replay / "agent.patch").write_text(submitted)
    _git(replay, "apply", "agent.patch")
    (replay / "agent.patch").unlink()
    assert _tree(replay) == _tree(target)
