"""``stacks init DIR``: scaffold a stack package (see :mod:`stacks_cli.scaffold`)."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.text import Text

from stacks_cli.common import EXIT_CONFIG, fail, out

__all__ = ["init_cmd"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


def _default_name(directory: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", directory.absolute().name.lower()).strip("-")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name", help="The stack's name (lowercase letters, digits, '-'; default: from DIRECTORY)."
)
def init_cmd(directory: Path, name: str | None) -> None:
    """Create a new stack package in DIRECTORY: a pyproject with the stacks.stacks entry point,
    a dlt step over an in-code resource, a dbt project and one test (dlt -> dbt -> Dagster)."""
    from stacks_cli.scaffold import module_name, write

    name = name or _default_name(directory)
    if not _NAME.match(name):
        fail(
            f"{name!r} is not a valid stack name: use lowercase letters, digits and '-', "
            "starting with a letter or digit (pass --name).",
            EXIT_CONFIG,
        )
    if directory.exists() and any(directory.iterdir()):
        fail(f"{directory} exists and is not empty: nothing was written.", EXIT_CONFIG)
    written = write(directory, name)
    console = out()
    console.print(
        Text(f"Created stack {name} (package {module_name(name)}) in {directory}:"),
        soft_wrap=True,
    )
    for path in written:
        console.print(Text(f"  {path.relative_to(directory)}"), soft_wrap=True)
    console.print(
        Text(
            "Next: install it into the environment that has stacks (uv pip install -e "
            f"{directory}, or uv add --editable {directory} in a project), then "
            f"`stacks list`, `stacks plan {name}`, `stacks run {name}`."
        ),
        soft_wrap=True,
    )
