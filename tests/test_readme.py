"""The README's Python loop runs as written."""

from __future__ import annotations

import os
import re

from .conftest import REPO_ROOT


def test_readme_python_example_runs(docker_provisioned, capsys) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(code.strip().splitlines()) <= 15
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "resolved: False reward: 0.0" in printed
