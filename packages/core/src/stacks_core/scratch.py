"""The scratch warehouse ``stacks check`` rebuilds a stack into, and how leftovers are found.

One per (stack, warehouse), always at the same place, so a killed check's leftover is replaced by
the next check and found by ``stacks clean``: an empty DuckDB file in a folder beside the
warehouse file, or a database on the same Postgres server named after the warehouse's.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from stacks_contract.models import TableRef
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

from stacks_core.sql import connect, qualified, quote_ident

__all__ = [
    "copy_tables",
    "drop_scratch",
    "scratch_database",
    "scratch_dir",
    "scratch_exists",
    "scratch_target",
    "scratch_warehouse",
]


def scratch_dir(warehouse: DuckDBWarehouse, stack: str) -> Path:
    """The folder the scratch DuckDB file of ``check`` lives in: beside the warehouse file."""
    return warehouse.path.with_name(f"{warehouse.path.name}.{stack}.check")


def scratch_database(warehouse: PostgresWarehouse, stack: str) -> str:
    """The scratch database of ``check`` for ``stack`` on ``warehouse``'s server."""
    digest = hashlib.sha1(f"{stack}\0{warehouse.database}".encode()).hexdigest()[:8]
    return f"{warehouse.database[:40]}_stacks_check_{digest}"


def scratch_target(warehouse: Warehouse, stack: str) -> Warehouse:
    """The scratch warehouse ``check`` rebuilds ``stack`` into (the same one every time, so the
    tools' state for it does not pile up)."""
    if isinstance(warehouse, DuckDBWarehouse):
        path = scratch_dir(warehouse, stack) / warehouse.path.name
        return warehouse.model_copy(update={"path": path})
    assert isinstance(warehouse, PostgresWarehouse)
    return warehouse.model_copy(update={"database": scratch_database(warehouse, stack)})


def _drop_sql(scratch: PostgresWarehouse) -> str:
    return f"drop database if exists {quote_ident(scratch.database)} with (force)"


def scratch_exists(warehouse: Warehouse, stack: str) -> bool:
    """A scratch warehouse of ``stack`` is there (a killed check's leftover, or a running one)."""
    scratch = scratch_target(warehouse, stack)
    if isinstance(scratch, DuckDBWarehouse):
        return scratch.path.parent.exists()
    assert isinstance(scratch, PostgresWarehouse)
    with connect(warehouse) as conn:
        rows = conn.execute("select 1 from pg_database where datname = ?", [scratch.database])
    return bool(rows)


def drop_scratch(warehouse: Warehouse, stack: str) -> None:
    """Remove the scratch warehouse of ``stack`` (nothing when there is none)."""
    scratch = scratch_target(warehouse, stack)
    if isinstance(scratch, DuckDBWarehouse):
        shutil.rmtree(scratch.path.parent, ignore_errors=True)
        return
    assert isinstance(scratch, PostgresWarehouse)
    with connect(warehouse) as conn:
        conn.execute(_drop_sql(scratch))


@contextlib.contextmanager
def scratch_warehouse(warehouse: Warehouse, stack: str) -> Iterator[Warehouse]:
    """:func:`scratch_target`, created empty, and removed afterwards."""
    scratch = scratch_target(warehouse, stack)
    if isinstance(scratch, DuckDBWarehouse):
        folder = scratch.path.parent
        shutil.rmtree(folder, ignore_errors=True)  # a killed check's leftover
        folder.mkdir(mode=0o700)
        try:
            yield scratch
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    assert isinstance(scratch, PostgresWarehouse)
    with connect(warehouse) as conn:
        conn.execute(_drop_sql(scratch))
        conn.execute(f"create database {quote_ident(scratch.database)}")
    try:
        yield scratch
    finally:
        with contextlib.suppress(Exception), connect(warehouse) as conn:
            conn.execute(_drop_sql(scratch))


def copy_tables(source: Warehouse, target: Warehouse, refs: Iterable[TableRef]) -> None:
    """Copy ``refs`` (schema, columns, rows) from ``source`` into ``target``, a warehouse of the
    same engine: for a rebuild from the very raw tables a step wrote where ``check`` cannot send
    it again. DuckDB attaches the target file; Postgres streams a binary COPY."""
    refs = list(refs)
    if isinstance(source, DuckDBWarehouse) and isinstance(target, DuckDBWarehouse):
        with connect(source) as conn:
            path = str(target.path).replace("'", "''")
            conn.execute(f"attach '{path}' as stacks_scratch")
            try:
                for ref in refs:
                    schema = f"stacks_scratch.{quote_ident(ref.schema_name)}"
                    conn.execute(f"create schema if not exists {schema}")
                    conn.execute(
                        f"create table {schema}.{quote_ident(ref.name)} as "
                        f"select * from {qualified(ref.schema_name, ref.name)}"
                    )
            finally:
                conn.execute("detach stacks_scratch")
        return
    assert isinstance(source, PostgresWarehouse) and isinstance(target, PostgresWarehouse)
    with connect(source) as src, connect(target) as dst:
        for ref in refs:
            columns = src.execute(
                "select quote_ident(attname), format_type(atttypid, atttypmod) "
                "from pg_attribute where attrelid = ?::regclass and attnum > 0 "
                "and not attisdropped order by attnum",
                [qualified(ref.schema_name, ref.name)],
            )
            table = qualified(ref.schema_name, ref.name)
            dst.execute(f"create schema if not exists {quote_ident(ref.schema_name)}")
            dst.execute(f"create table {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
            with (
                src.raw.cursor() as out,
                out.copy(f"copy {table} to stdout (format binary)") as rows,
                dst.raw.cursor() as inp,
                inp.copy(f"copy {table} from stdin (format binary)") as sink,
            ):
                for chunk in rows:
                    sink.write(chunk)
