"""placeholder"""

import click

__all__ = ["init_cmd"]


@click.command("init")
def init_cmd() -> None:
    """Scaffold."""
