"""The `agentenv` command: a thin layer of argument parsing and tables over library calls."""

from __future__ import annotations

import logging

import typer

from agentenv.cli import export_cmd, feedback_cmd, gc_cmd, grade_cmd, image_cmd, replay_cmd, run_cmd, tasks_cmd, tools_cmd, traj_cmd

app = typer.Typer(
    name="agentenv",
    help="Coding agents on real repositories in containers: run, grade, and collect the data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("run")(run_cmd.run)
app.command("grade")(grade_cmd.grade)
app.add_typer(tasks_cmd.app, name="tasks")
app.add_typer(traj_cmd.app, name="traj")
app.command("replay")(replay_cmd.replay)
app.command("branch")(replay_cmd.branch)
app.command("export")(export_cmd.export_command)
app.add_typer(feedback_cmd.app, name="feedback")
app.command("gc")(gc_cmd.gc)
app.add_typer(image_cmd.app, name="image")
app.add_typer(tools_cmd.app, name="tools")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    app()
