"""A minimal DB-API wrapper over Postgres (psycopg 3) and DuckDB, for the contract's own needs:
fingerprints, the run ledger, and tests. Placeholders are ``?`` on both engines."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

from stacks_contract.errors import ConfigError, WarehouseUnreachable
from stacks_contract.warehouse import (
    DEFAULT_DUCKDB_DIR,
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
    redact,
)

# quoted literals/identifiers, '?' placeholders and '%' signs, in one left-to-right scan
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")


def _to_pyformat(sql: str) -> str:
    """``?`` -> ``%s`` for psycopg, except inside quotes (there a '?' is data); every ``%`` is
    doubled, quoted or not, because psycopg reads placeholders anywhere in the string."""

    def repl(m: re.Match[str]) -> str:
        token = m.group()
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _TOKENS.sub(repl, sql)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def duckdb_folder(warehouse: DuckDBWarehouse) -> None:
    """The DuckDB file's folder must exist: only the default's own ``.stacks/`` is created (a
    mistyped path must not silently create directories)."""
    parent = warehouse.path.parent
    if parent.is_dir():
        return
    if parent.name != DEFAULT_DUCKDB_DIR.name or not parent.parent.is_dir():
        raise WarehouseUnreachable(
            f"Cannot open the DuckDB warehouse {warehouse.path}: the directory {parent} "
            "does not exist (create it first, or check the path)."
        )
    parent.mkdir(exist_ok=True)


class Connection:
    """``execute`` returns all rows (or ``[]``); autocommit on both engines."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        if self.dialect == "postgres":
            sql = _to_pyformat(sql) if params else sql
            with self.raw.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        cur = self.raw.execute(sql, params) if params else self.raw.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgres":
            with self.raw.cursor() as cur:
                cur.executemany(_to_pyformat(sql), list(rows))
        else:
            self.raw.executemany(sql, list(rows))

    def schemas(self) -> list[str]:
        rows = self.execute(
            "select schema_name from information_schema.schemata where schema_name not in "
            "('information_schema', 'pg_catalog', 'pg_toast', 'main', 'pg_temp') "
            "and schema_name not like 'pg_%'"
        )
        return sorted(r[0] for r in rows)

    def tables(self, schema: str | None = None) -> list[tuple[str, str]]:
        """(schema, table) of every base table and view, optionally in one schema."""
        sql = (
            "select table_schema, table_name from information_schema.tables where "
            "table_schema not in ('information_schema', 'pg_catalog') "
            "and table_schema not like 'pg_%'"
        )
        params: list[Any] = []
        if schema is not None:
            sql += " and table_schema = ?"
            params.append(schema)
        if self.dialect == "duckdb":
            sql += " and table_catalog = current_database()"
        return sorted((r[0], r[1]) for r in self.execute(sql, params or None))

    def table_exists(self, schema: str, table: str) -> bool:
        return (schema, table) in self.tables(schema)

    def columns(self, schema: str, table: str) -> list[str]:
        sql = (
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ?"
        )
        if self.dialect == "duckdb":
            sql += " and table_catalog = current_database()"
        return [r[0] for r in self.execute(sql + " order by ordinal_position", [schema, table])]

    def count(self, schema: str, table: str) -> int:
        return int(self.execute(f"select count(*) from {qualified(schema, table)}")[0][0])

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: how long a DuckDB open waits for another process to close the file
DUCKDB_LOCK_WAIT_S = 3.0


def connect(
    warehouse: Warehouse, *, read_only: bool = False, libpq: dict[str, str] | None = None
) -> Connection:
    """Open a connection; :class:`WarehouseUnreachable` (one masked sentence) on failure.
    ``libpq``: more connection parameters for Postgres (keepalives, say)."""
    if isinstance(warehouse, PostgresWarehouse):
        import psycopg
        from psycopg.conninfo import make_conninfo

        try:
            params = warehouse.libpq_params()
            # the user's own options (a role, a search_path) stay; times are always UTC here
            options = " ".join(filter(None, [params.pop("options", ""), "-c TimeZone=UTC"]))
            params.setdefault("connect_timeout", "5")
            params.update(libpq or {})
            params["options"] = options
            password = warehouse.password.get_secret_value()
            if password:
                params["password"] = password
            raw = psycopg.connect(make_conninfo("", **params), autocommit=True)
        except psycopg.Error as exc:
            msg = redact(
                str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), warehouse
            )
            raise WarehouseUnreachable(
                f"Cannot connect to the Postgres warehouse {warehouse.redacted_url()}: {msg}"
            ) from None
        return Connection(raw, "postgres")
    if isinstance(warehouse, DuckDBWarehouse):
        import duckdb

        if not read_only:
            duckdb_folder(warehouse)
        # DuckDB admits one process per file: another process's brief open (`stacks runs`, a
        # run checking the warehouse or its run lock) is waited out; a long one is an error
        deadline = time.monotonic() + DUCKDB_LOCK_WAIT_S
        while True:
            try:
                db = duckdb.connect(str(warehouse.path), read_only=read_only)
                db.execute("set TimeZone = 'UTC'")
                return Connection(db, "duckdb")
            except (duckdb.Error, OSError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else repr(exc)
                if "Could not set lock" in first and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise WarehouseUnreachable(
                    f"Cannot open the DuckDB warehouse {warehouse.path}: {first}"
                ) from None
    raise ConfigError(f"The {warehouse.kind} warehouse has no SQL driver in stacks-contract yet.")
