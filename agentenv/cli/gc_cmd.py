"""`agentenv gc`: remove containers that killed runs left behind."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agentenv.runtime.base import RuntimeUnavailable
from agentenv.runtime.gc import leftovers, remove

console = Console(stderr=True)


def gc(
    everything: Annotated[bool, typer.Option("--all", help="Every agentenv container, even of live runs.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be removed.")] = False,
) -> None:
    """Remove agentenv's containers whose run is gone."""
    try:
        found = leftovers(everything=everything)
        table = Table(title="leftover containers")
        for column in ("container", "status", "run", "task", "why"):
            table.add_column(column)
        for item in found:
            table.add_row(item.id, item.status, item.labels.get("agentenv.run_id", "-"), item.labels.get("agentenv.instance_id", "-"), item.reason)
        if found:
            console.print(table)
        removed = 0 if dry_run else remove(found)
    except RuntimeUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"{len(found)} leftover containers; {'none removed (dry run)' if dry_run else f'{removed} removed'}")
