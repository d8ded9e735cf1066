"""`agentenv image ...`: the base image."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from agentenv.runtime.base import RuntimeUnavailable
from agentenv.runtime.images import BASE_IMAGE, ImageBuildError, build_base_image

app = typer.Typer(help="Build the images episodes run in.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("build-base")
def build_base(
    tag: Annotated[str, typer.Option(help="Tag of the image to build.")] = BASE_IMAGE,
    from_image: Annotated[
        str | None,
        typer.Option("--from", help="Start from this image (needs a registry) instead of debootstrap."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Build even if the image exists.")] = False,
) -> None:
    """Build the base image (debootstrap + docker import, no registry needed)."""
    try:
        build_base_image(tag, from_image=from_image, force=force, progress=lambda m: console.print(m))
    except (ImageBuildError, RuntimeUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]{tag} is ready[/green]")
