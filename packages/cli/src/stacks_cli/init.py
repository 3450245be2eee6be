"""``stacks init DIR``: scaffold a stack package (see :mod:`stacks_cli.scaffold`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
from rich.text import Text

from stacks_cli.common import EXIT_CONFIG, fail, out

__all__ = ["init_cmd", "next_commands"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


def _default_name(directory: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", directory.absolute().name.lower()).strip("-")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name", help="The stack's name (lowercase letters, digits, '-'; default: from DIRECTORY)."
)
def init_cmd(directory: Path, name: str | None) -> None:
    """Create a new stack package in DIRECTORY, a uv project of its own: CSV files landing in a
    folder -> dlt -> dbt -> Dagster, with the conformance suites on its step and models."""
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
        Text(f"Next (the first `uv run` installs it into {directory / '.venv'}):"), soft_wrap=True
    )
    for command in next_commands(directory, name):
        console.print(Text(f"  {command}"), soft_wrap=True)


def next_commands(directory: Path, name: str) -> list[str]:
    """What to type after ``stacks init``, verbatim (a test runs them)."""
    return [
        f"cd {shlex.quote(str(directory))}",
        "uv run stacks list",
        f"uv run stacks run {name}",
        "uv run pytest tests",
    ]
