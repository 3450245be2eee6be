"""``stacks clean``: remove the local state a stack keeps for a warehouse, never its data."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.text import Text
from stacks_contract.warehouse import DEFAULT_DUCKDB_DIR, DuckDBWarehouse, Warehouse
from stacks_core.state import size_of

from stacks_cli.cleanplan import CleanPlan, in_use, local_state, plan_clean
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

__all__ = ["clean_cmd", "human_size", "local_state"]  # local_state: from stacks_cli.cleanplan


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


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


@contextlib.contextmanager
def _all_locked(
    warehouse: Warehouse, name: str, plan: CleanPlan, wait: bool, dry_run: bool
) -> Iterator[None]:
    """NAME's run lock and that of every stack sharing its state (exit 2 while one runs), with
    none of the paths open in another process (a running server's history, say)."""
    from stacks_contract.errors import RunLocked

    with contextlib.ExitStack() as locks:
        locks.enter_context(_locked(warehouse, name, wait, dry_run))
        for other, paths in plan.sharers.items():
            try:
                locks.enter_context(_locked(warehouse, other, wait, dry_run))
            except RunLocked as exc:
                raise RunLocked(f"{paths[0]} is shared by {name} and {other}, and {exc}") from None
        busy = in_use(plan.paths)
        if busy:
            path, pid = next(iter(busy.items()))
            raise RunLocked(
                f"{path} is in use by process {pid} (a run or a server using the same state); "
                "stop it, or wait for it to end."
            )
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
@click.option(
    "--shared",
    is_flag=True,
    help="Also remove state every warehouse shares (an orchestrator's home: the Dagster "
    "instance, the Airflow metadata DB, the Temporal history), unless a process holds it open.",
)
@JSON
def clean_cmd(
    name: str | None, url: str | None, wait: bool, dry_run: bool, shared: bool, as_json: bool
) -> None:
    """Remove the local state of NAME for its warehouse (without NAME: of every installed stack).

    Local state: the tools' working folders for that warehouse (dlt's pipelines, dbt's target/
    and partial-parse state), `stacks check`'s scratch (a folder beside a DuckDB file, a
    scratch database on Postgres) and the run-lock file beside a DuckDB file; with --shared also
    what every warehouse shares (the orchestrator's home under ./.stacks). The warehouse's data
    is never touched. Done under NAME's run lock and that of every other stack sharing the same
    state for the warehouse: refused (exit 2) while one of them runs (--wait: wait for it) or
    while another process holds the state open. Per-warehouse state unused for
    $STACKS_STATE_MAX_AGE_DAYS days (default 30) is also pruned by every run.
    """
    from stacks_core.registry import available_stacks
    from stacks_core.scratch import drop_scratch

    names = [name] if name else list(available_stacks())
    report: list[dict[str, Any]] = []
    for each in names:
        stack, warehouse = prepare(each, url, connect_first=False)
        each = stack.name  # a reference (`file.py:attr`) keeps state under its stack's name
        with errors(warehouse):
            plan = plan_clean(stack, warehouse, shared=shared)
            found = [p for p in plan.paths if p.exists() or p.is_symlink()]
            removed = [(str(p), size_of(p)) for p in found]  # before the lock writes its holder
            if plan.scratch:
                removed.append((f"database {plan.scratch} (a scratch of stacks check)", 0))
        with errors(warehouse), _all_locked(warehouse, each, plan, wait, dry_run):
            if not dry_run:
                for path in found:
                    _remove(path)
                if plan.scratch:
                    drop_scratch(warehouse, each)
                if isinstance(warehouse, DuckDBWarehouse):
                    _unlock_file(warehouse, each)  # the lock file taking the lock created
        report.append(
            {
                "stack": each,
                "warehouse": warehouse.redacted_url(),
                "removed": [{"path": p, "bytes": n} for p, n in removed],
                "bytes": sum(n for _, n in removed),
                "kept": [str(p) for p in plan.kept if p.exists()],
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
    for entry in report:
        for path in entry["kept"]:
            console.print(
                Text(f"Kept {path}: every warehouse shares it (--shared removes it)."),
                soft_wrap=True,
            )
