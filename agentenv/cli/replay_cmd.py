"""`agentenv replay` and `agentenv branch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentenv.rollout.config import ConfigError, load_config
from agentenv.rollout.replay import branch as branch_trajectory
from agentenv.rollout.replay import replay as replay_trajectory
from agentenv.rollout.agent_factory import make_agent
from agentenv.runtime.base import RuntimeUnavailable
from agentenv.tasks.model import Task
from agentenv.trajectory.recorder import TrajectoryError, read_trajectory

console = Console(stderr=True)


def replay(
    trajectory: Annotated[Path, typer.Argument(help="A trajectory file.")],
    runtime: Annotated[str | None, typer.Option(help="docker or local (default: the recording's).")] = None,
) -> None:
    """Re-execute the recorded actions in a fresh episode; exit 1 at the first divergence."""
    try:
        report = replay_trajectory(trajectory, runtime=runtime)
    except (TrajectoryError, RuntimeUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for step in report.steps:
        mark = "[green]match[/green]" if step.matches else "[red]DIVERGES[/red]"
        console.print(f"step {step.index:>3}  {mark}  {step.action.splitlines()[0][:70]}")
    divergence = report.first_divergence
    if divergence is None:
        console.print(f"all {len(report.steps)} steps match ({report.runtime} runtime)")
        return
    console.print(f"[red]first divergence at step {divergence.index}[/red]")
    console.print(report.diff(divergence), markup=False, highlight=False)
    raise typer.Exit(1)


def branch(
    trajectory: Annotated[Path, typer.Argument(help="The trajectory to branch from.")],
    at: Annotated[int, typer.Option(help="The step to rewrite (0-based); steps before it are replayed.")],
    action: Annotated[str | None, typer.Option(help="The action to take at that step instead.")] = None,
    agent: Annotated[Path | None, typer.Option(help="A run config whose agent goes on from there.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the new trajectory.")] = None,
    runtime: Annotated[str | None, typer.Option(help="docker or local (default: the recording's).")] = None,
) -> None:
    """A new trajectory that shares steps 0..AT-1, takes ACTION at AT, and goes on with AGENT."""
    try:
        parent = read_trajectory(trajectory)
        chosen_agent = None
        max_steps = None
        if agent is not None:
            config = load_config(agent)
            task = Task.model_validate(parent.header.task)
            chosen_agent = make_agent(config, {task.instance_id: task})
            max_steps = config.max_steps
        path, result = branch_trajectory(
            trajectory, at, action=action, agent=chosen_agent, out=out, runtime=runtime, max_steps=max_steps
        )
    except (TrajectoryError, ConfigError, RuntimeUnavailable, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"wrote {path}: {result.steps} steps, exit status {result.exit_status}, resolved {result.resolved}")
