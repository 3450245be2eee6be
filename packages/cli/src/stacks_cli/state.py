"""``stacks state show|reset``: the incremental cursors of a stack's EL steps (Meltano's
``meltano state``), as the warehouse holds them. Resetting makes the next run read those tables
in full; no row is deleted."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text
from stacks_contract.errors import ConfigError
from stacks_contract.models import RunRequest
from stacks_contract.ports import CursorState, Stack
from stacks_contract.warehouse import Warehouse

from stacks_cli.common import JSON, WAIT, WAREHOUSE, complete_stack, emit_json, errors, out, prepare

__all__ = ["state_group"]


@click.group("state")
def state_group() -> None:
    """Show or reset the incremental cursors of a stack's EL steps."""


def _steps(stack: Stack, warehouse: Warehouse, step: str | None) -> list[Any]:
    steps: list[Any] = [s for s in stack.spec(warehouse).el_steps if isinstance(s, CursorState)]
    if step is None:
        return steps
    chosen = [s for s in steps if s.name == step]
    if not chosen:
        known = ", ".join(s.name for s in steps) or "none"
        raise ConfigError(f"No EL step {step!r} with cursors in {stack.name} (steps: {known}).")
    return chosen


@state_group.command("show")
@click.argument("name", shell_complete=complete_stack)
@click.argument("step", required=False)
@click.argument("table", required=False)
@WAREHOUSE
@JSON
def show_cmd(
    name: str, step: str | None, table: str | None, url: str | None, as_json: bool
) -> None:
    """Show the cursors of stack NAME (of its STEP, of that step's TABLE)."""
    stack, warehouse = prepare(name, url)
    rows: list[dict[str, Any]] = []
    with errors(warehouse):
        for each in _steps(stack, warehouse, step):
            found = each.cursors(warehouse)
            if table is not None and table not in found:
                raise ConfigError(f"Step {each.name!r} keeps no cursor for table {table!r}.")
            for tbl, cursors in found.items():
                if table is None or tbl == table:
                    for column, value in cursors.items():
                        rows.append(
                            {"step": each.name, "table": tbl, "cursor": column, "value": value}
                        )
    if as_json:
        emit_json({"stack": stack.name, "cursors": rows}, warehouse)
        return
    if not rows:
        out().print(Text(f"No cursors stored for {stack.name} in {warehouse.redacted_url()}."))
        return
    grid = Table(show_header=True, header_style="bold")
    for head in ("step", "table", "cursor", "last value"):
        grid.add_column(head)
    for row in rows:
        grid.add_row(*(Text(str(row[k])) for k in ("step", "table", "cursor", "value")))
    out().print(grid)


@state_group.command("reset")
@click.argument("name", shell_complete=complete_stack)
@click.argument("step", required=False)
@click.argument("table", required=False)
@WAREHOUSE
@WAIT
@JSON
def reset_cmd(
    name: str, step: str | None, table: str | None, url: str | None, wait: bool, as_json: bool
) -> None:
    """Forget the cursors of stack NAME (of its STEP, of that step's TABLE): the next run reads
    those tables in full and merges them; their rows stay. Waits for no run: refused (exit 2)
    while one holds the stack's run lock (--wait: wait for it)."""
    from stacks_core.runlock import run_lock

    stack, warehouse = prepare(name, url, wait=wait)
    reset: list[dict[str, Any]] = []
    lock = run_lock(warehouse, stack.name, RunRequest(stack=stack.name), wait=wait, abandon=False)
    with errors(warehouse), lock:
        for each in _steps(stack, warehouse, step):
            tables = (table,) if table is not None else ()
            for tbl in each.reset_cursors(warehouse, tables):
                reset.append({"step": each.name, "table": tbl})
    if as_json:
        emit_json({"stack": stack.name, "reset": reset}, warehouse)
        return
    if not reset:
        out().print(Text(f"No cursors to reset for {stack.name} in {warehouse.redacted_url()}."))
        return
    names = ", ".join(f"{r['step']}.{r['table']}" for r in reset)
    out().print(
        Text(f"Reset {len(reset)} cursor(s) ({names}): the next run reads them in full."),
        soft_wrap=True,
    )
