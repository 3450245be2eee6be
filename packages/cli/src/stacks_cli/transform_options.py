"""The transform's own options on ``stacks run``, ``check`` and ``plan``: ``--target``,
``--threads``, ``--state`` and ``--defer``.

They travel the way dbt's own do, as the environment variables dbt reads (``DBT_TARGET``,
``DBT_STATE``, ``DBT_DEFER``; ``STACKS_DBT_THREADS`` for the threads, which dbt reads from no
variable): the transform, and any dbt process an orchestrator starts, sees them whichever
process runs the model. No tool is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["TARGET_OPTIONS", "TRANSFORM_OPTIONS", "apply_transform_options", "transform_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: option name -> the environment variable it sets
ENV = {
    "target": "DBT_TARGET",
    "threads": "STACKS_DBT_THREADS",
    "state": "DBT_STATE",
    "defer": "DBT_DEFER",
}


def apply_transform_options(
    target: str | None, threads: int | None, state: Path | None, defer: bool
) -> None:
    """Export the options given (an option not given leaves its variable as it was)."""
    if target:
        os.environ[ENV["target"]] = target
    if threads is not None:
        os.environ[ENV["threads"]] = str(threads)
    if state is not None:  # absolute: dbt would read a relative one against the project
        os.environ[ENV["state"]] = str(Path(state).expanduser().absolute())
    if defer:
        os.environ[ENV["defer"]] = "true"


def transform_options(*, state: bool = True) -> Callable[[F], F]:
    """``--target``, ``--threads`` (and with ``state``: ``--state``, ``--defer``), exported
    before the command's body runs."""
    return lambda fn: _decorate(fn, state)


def _decorate(fn: F, with_state: bool) -> F:
    def export(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            apply_transform_options(
                value if param.name == "target" else None,
                value if param.name == "threads" else None,
                value if param.name == "state" else None,
                bool(value) if param.name == "defer" else False,
            )
        return value

    options = [
        click.option(
            "--target",
            metavar="NAME",
            expose_value=False,
            callback=export,
            help="The transform's target (dbt's --target; env DBT_TARGET): an output of your "
            "profiles.yml, or the name the generated profile's one target gets.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            expose_value=False,
            callback=export,
            help="Models built at once (dbt's --threads).",
        ),
        click.option(
            "--state",
            type=click.Path(file_okay=False, path_type=Path),
            expose_value=False,
            callback=export,
            help="Artifacts of an earlier run (a folder with its manifest.json) that "
            "--select state:modified+ compares with and --defer reads (dbt's --state).",
        ),
        click.option(
            "--defer",
            is_flag=True,
            expose_value=False,
            callback=export,
            help="Models the selection leaves out are read from the --state run's tables "
            "(dbt's --defer).",
        ),
    ]
    if not with_state:
        options = options[:2]
    for option in reversed(options):
        fn = option(fn)
    return fn


#: all four (``stacks run``, ``plan``)
TRANSFORM_OPTIONS = transform_options()
#: ``--target`` and ``--threads`` (``stacks check``: it compares runs, it defers to none)
TARGET_OPTIONS = transform_options(state=False)
