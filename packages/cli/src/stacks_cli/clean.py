"""``stacks clean``: remove the local state a stack keeps for a warehouse, never its data."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.text import Text
from stacks_contract.ports import Stack
from stacks_contract.warehouse import DEFAULT_DUCKDB_DIR, DuckDBWarehouse, Warehouse
from stacks_core.state import size_of

from stacks_cli.common import (
    JSON,
    WAIT,
    WAREHOUSE,
    complete_stack,
    emit_json,
    errors,
    out,
    prepare,
)

__all__ = ["clean_cmd", "human_size", "local_state"]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def local_state(stack: Stack, warehouse: Warehouse) -> list[Path]:
    """Everything local ``stack`` keeps for ``warehouse``, existing or not: its tools' state
    (:meth:`Stack.state_paths`), the same for the scratch warehouse of ``stacks check``, check's
    scratch folder and the run-lock file beside a DuckDB file."""
    from stacks_core.check import scratch_dir, scratch_target
    from stacks_core.runlock import lock_path

    paths = [*stack.state_paths(warehouse)]
    paths += stack.state_paths(scratch_target(warehouse, stack.name))
    if isinstance(warehouse, DuckDBWarehouse):
        paths += [scratch_dir(warehouse, stack.name), lock_path(warehouse, stack.name)]
    return list(dict.fromkeys(p.absolute() for p in paths))


@contextlib.contextmanager
def _locked(warehouse: Warehouse, name: str, wait: bool, dry_run: bool) -> Iterator[None]:
    """The stack's run lock: exit 2 while a run holds it (``wait``: wait for the run). Beside a
    DuckDB file: no lock file, no run (a run creates it), and a dry run only asks the file."""
    from stacks_contract.errors import RunLocked
    from stacks_core.runlock import held, lock_path, run_lock

    if isinstance(warehouse, DuckDBWarehouse):
        if not lock_path(warehouse, name).exists():
            yield
            return
        if dry_run:
            busy = held(warehouse, name)
            if busy:
                raise RunLocked(busy)
            yield
            return
    with run_lock(warehouse, name, None, wait=wait, abandon=False):
        yield


def _unlock_file(warehouse: DuckDBWarehouse, name: str) -> None:
    from stacks_core.runlock import lock_path

    with contextlib.suppress(FileNotFoundError):
        lock_path(warehouse, name).unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    parent = path.parent
    if parent.name != DEFAULT_DUCKDB_DIR.name:  # a tool's state root left empty goes too
        with contextlib.suppress(OSError):
            parent.rmdir()


@click.command("clean")
@click.argument("name", required=False, shell_complete=complete_stack)
@WAREHOUSE
@WAIT
@click.option("--dry-run", "-n", is_flag=True, help="Say what would be removed; remove nothing.")
@JSON
def clean_cmd(name: str | None, url: str | None, wait: bool, dry_run: bool, as_json: bool) -> None:
    """Remove the local state of NAME for its warehouse (without NAME: of every installed stack).

    Local state: the tools' working folders for that warehouse (dlt's pipelines, dbt's target/
    and partial-parse state), the orchestrator's home under ./.stacks (Dagster instance, Airflow
    metadata DB, Temporal history), `stacks check`'s scratch and the run-lock file beside a
    DuckDB file. The warehouse's data is never touched. Refused (exit 2) while a run holds the
    stack's run lock (--wait: wait for it). Per-warehouse state unused for
    $STACKS_STATE_MAX_AGE_DAYS days (default 30) is also pruned by every run.
    """
    from stacks_core.registry import available_stacks

    names = [name] if name else list(available_stacks())
    report: list[dict[str, Any]] = []
    for each in names:
        stack, warehouse = prepare(each, url, connect_first=False)
        each = stack.name  # a reference (`file.py:attr`) keeps state under its stack's name
        with errors(warehouse):
            found = [p for p in local_state(stack, warehouse) if p.exists() or p.is_symlink()]
            removed = [(p, size_of(p)) for p in found]  # before the lock writes its holder
        with errors(warehouse), _locked(warehouse, each, wait, dry_run):
            if not dry_run:
                for path in found:
                    _remove(path)
                if isinstance(warehouse, DuckDBWarehouse):
                    _unlock_file(warehouse, each)  # the lock file taking the lock created
        report.append(
            {
                "stack": each,
                "warehouse": warehouse.redacted_url(),
                "removed": [{"path": str(p), "bytes": n} for p, n in removed],
                "bytes": sum(n for _, n in removed),
            }
        )
    if as_json:
        emit_json({"dry_run": dry_run, "stacks": report})
        return
    console = out()
    verb = "Would remove" if dry_run else "Removed"
    for entry in report:
        if not entry["removed"]:
            console.print(
                Text(f"Nothing to clean for {entry['stack']} on {entry['warehouse']}."),
                soft_wrap=True,
            )
            continue
        console.print(
            Text(
                f"{verb} {len(entry['removed'])} path(s), {human_size(entry['bytes'])} of local "
                f"state of {entry['stack']} on {entry['warehouse']} (its data is kept):"
            ),
            soft_wrap=True,
        )
        for item in entry["removed"]:
            console.print(Text(f"  {human_size(item['bytes']):>9}  {item['path']}"), soft_wrap=True)
