"""A SQL database (e.g. a Postgres "app" database) through dlt's ``sql_database`` source.

Tables are read with the ``pyarrow`` backend (typed Arrow batches, the fast path), incrementally on
a cursor column (``updated_at``) that dlt pushes down as a ``WHERE`` clause, and merged on their
primary key (reflected from the database, or given). Table reflection is deferred to the run, so
building the step or asking :meth:`~DltStep.produces` never connects to the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import LoadResult, RunRequest
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import DEFAULT_SCHEMA, PostgresWarehouse, Warehouse

from stacks_el_dlt.step import DltStep


def _url(database: str | PostgresWarehouse) -> str:
    return database.url() if isinstance(database, PostgresWarehouse) else database


def sql_source(
    database: str | PostgresWarehouse,
    tables: Sequence[str],
    *,
    schema: str | None = None,
    cursor: str | None = "updated_at",
    primary_keys: dict[str, str | Sequence[str]] | None = None,
    backend: str = "pyarrow",
    chunk_size: int = 50_000,
) -> Any:
    """A fresh dlt ``sql_database`` source over ``tables`` of ``database`` (SQLAlchemy URL)."""
    import dlt
    from dlt.sources.sql_database import sql_database

    if not tables:
        raise ConfigError("A SQL database step needs at least one table name.")
    source = sql_database(
        credentials=_url(database),
        schema=schema,
        table_names=list(tables),
        # a plain str here: dlt's hint is a Literal of backend names, and dlt checks the name
        backend=backend,  # type: ignore[arg-type]
        chunk_size=chunk_size,
        defer_table_reflect=True,
    )
    for table in tables:
        resource = source.resources[table]
        hints: dict[str, Any] = {"write_disposition": "merge"}
        if primary_keys and table in primary_keys:
            hints["primary_key"] = primary_keys[table]
        if cursor:
            hints["incremental"] = dlt.sources.incremental(cursor)
        resource.apply_hints(**hints)
    return source


class SqlDatabaseStep(DltStep):
    """Tables of a SQL database as an EL step (incremental on ``cursor``, merge on keys)."""

    incremental = True

    def __init__(
        self,
        database: str | PostgresWarehouse,
        tables: Sequence[str],
        *,
        name: str = "app",
        dataset: str = DEFAULT_SCHEMA,
        schema: str | None = None,
        cursor: str = "updated_at",
        primary_keys: dict[str, str | Sequence[str]] | None = None,
        backend: str = "pyarrow",
        delete_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        #: apply the source's hard deletes after each load (key comparison, see sql_deletes.py)
        self.delete_missing = delete_missing
        self._source_url, self._source_schema = _url(database), schema
        #: rows deleted by the last run because their key is gone from the source
        self.last_deleted: dict[str, int] = {}
        super().__init__(
            name,
            partial(
                sql_source,
                database,
                tuple(tables),
                schema=schema,
                cursor=cursor,
                primary_keys=primary_keys,
                backend=backend,
            ),
            dataset=dataset,
            **kwargs,
        )
        # the app database's password must never reach an error message either
        if isinstance(database, PostgresWarehouse):
            self.secrets += (database.password.get_secret_value(),)
            self.source_hint = database.redacted_url()
        else:
            from urllib.parse import unquote, urlsplit

            password = urlsplit(database).password
            if password:
                self.secrets += (password, unquote(password))
            self.source_hint = self._mask(database)

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        self.last_deleted = {}
        if self.delete_missing:
            from stacks_el_dlt.sources.sql_deletes import delete_missing_rows

            self.last_deleted = delete_missing_rows(pipeline, self._source_url, self._source_schema)

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        result = super().run(request, warehouse, report)
        for table, n in self.last_deleted.items():
            report(self.name, f"deleted {n} rows from {table} whose key is gone from the source")
        return result
