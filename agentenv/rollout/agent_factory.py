"""Agents from run configs."""

from __future__ import annotations

from pathlib import Path

from agentenv.aci.tools import ToolBundle
from agentenv.agents.base import Agent
from agentenv.agents.budget import Budget
from agentenv.agents.llm_config import LLMAgentConfig
from agentenv.agents.oracle import OracleAgent
from agentenv.rollout.config import RunConfig
from agentenv.tasks.model import Task


def make_agent(config: RunConfig, tasks: dict[str, Task], bundle: ToolBundle | None = None, budget: Budget | None = None) -> Agent:
    agent = config.agent
    if isinstance(agent, LLMAgentConfig):
        # Imported here: litellm takes a second or two to import, and the oracle needs none of it.
        from agentenv.agents.llm import LLMAgent
        from agentenv.agents.prompts import Templates

        if bundle is None:
            from agentenv.aci.tools import load_toolset

            bundle = load_toolset([config.path(folder) for folder in config.tools])
        return LLMAgent(agent, bundle, Templates(agent.templates, Path(config.base_dir)), budget)
    return OracleAgent(tasks, bundle)
