"""Every shipped config loads, and its templates render."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentenv.agents.llm_config import LLMAgentConfig
from agentenv.agents.prompts import Templates
from agentenv.rollout.config import ConfigError, load_config

from .conftest import REPO_ROOT

CONFIGS = sorted(p for p in (REPO_ROOT / "configs").glob("*.yaml") if p.name != "failure_tags.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.path(config.tasks).is_dir()
    if isinstance(config.agent, LLMAgentConfig):
        templates = Templates(config.agent.templates, Path(config.base_dir))
        system = templates.system(mode=config.agent.mode, command_docs="DOCS")
        assert system and ("DOCS" in system) == (config.agent.mode == "text")
        assert "ISSUE" in templates.instance(problem_statement="ISSUE", requirements=None, repo_dir="/repo", observation="o")


def test_default_config_equals_the_built_in_defaults() -> None:
    from agentenv.rollout.config import RunConfig

    documented = load_config(REPO_ROOT / "configs" / "default.yaml").model_dump(exclude={"tasks", "output"})
    built_in = RunConfig(tasks="x").model_dump(exclude={"tasks", "output"})
    assert documented == built_in


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tasks: x\nagent: {type: llm}\n", "agent.llm.model"),
        ("tasks: x\nagent: {type: robot}\n", "agent"),
        ("tasks: x\nsamples: 0\n", "samples"),
        ("tasks: x\nbackend: spark\n", "backend"),
        ("tasks: x\nagent: {type: llm, model: m, mode: telepathy}\n", "agent.llm.mode"),
    ],
)
def test_bad_configs_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=rf"c\.yaml: .*`{field}"):
        load_config(tmp_path / "c.yaml")
