"""`agentenv tools ...`: the ACI's command declarations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentenv.aci.tools import ToolsError, load_bundle

app = typer.Typer(help="The commands agents use.", no_args_is_help=True)


@app.command("schema")
def schema(
    bundle: Annotated[Path | None, typer.Option(help="A bundle folder (default: the built-in one).")] = None,
) -> None:
    """Print the OpenAI function-calling schemas of the commands as a JSON list."""
    try:
        loaded = load_bundle(bundle)
    except ToolsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(loaded.function_schemas(), indent=2))


@app.command("docs")
def docs(
    bundle: Annotated[Path | None, typer.Option(help="A bundle folder (default: the built-in one).")] = None,
) -> None:
    """Print the command docs as an agent sees them."""
    try:
        typer.echo(load_bundle(bundle).docs())
    except ToolsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
