"""stacks-cli: the ``stacks`` command (run, check, plan, runs, clean, ui, init, list).

It imports no tool: a stack's tools are imported when the stack is loaded or run. The command is
:func:`stacks_cli.main.main`; the rest are its commands, the Rich console and the scaffold.
"""

from stacks_cli.main import main

__all__ = ["main"]
