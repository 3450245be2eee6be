"""``stacks docs NAME``: the transform's documentation site for the stack's warehouse (dbt's
``docs generate``), as one HTML file a browser opens from disk."""

from __future__ import annotations

import click
from rich.text import Text

from stacks_cli.common import (
    EXIT_CONFIG,
    WAREHOUSE,
    err,
    errors,
    fail,
    out,
    prepare,
    reporter,
    stack_argument,
    tool_output,
)
from stacks_cli.transform_options import TARGET_OPTIONS

__all__ = ["docs_cmd"]


@click.command("docs")
@stack_argument()
@WAREHOUSE
@TARGET_OPTIONS
def docs_cmd(name: str, url: str | None) -> None:
    """Generate the documentation of NAME's transform (models, columns, tests, lineage, and the
    catalog read from the warehouse) and print the path of the HTML file to open."""
    stack, warehouse = prepare(name, url)
    report = reporter(err())
    with errors(warehouse), tool_output():
        transform = stack.spec(warehouse).transform
        generate = getattr(transform, "docs", None)
        if transform is None or generate is None:
            fail(f"The stack {stack.name} has no transform that writes documentation.", EXIT_CONFIG)
        page = generate(warehouse, report)
    out().print(Text(str(page)), soft_wrap=True)
