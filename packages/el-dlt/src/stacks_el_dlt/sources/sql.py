"""A SQL database (e.g. a Postgres "app" database) through dlt's ``sql_database`` source.

Tables are read with the ``pyarrow`` backend (typed Arrow batches, the fast path). Which tables
and how each loads (merge on its key, incremental on a cursor; or a replaced snapshot) is decided
per table by :mod:`stacks_el_dlt.sources.sql_tables`; the Postgres type map is
:mod:`stacks_el_dlt.sources.sql_types`. With a table list, building the step or asking
:meth:`~DltStep.produces` never connects to the database; without one, the source schema is read
once per step object (never the warehouse).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stacks_contract.errors import ConfigError, StacksError, StepFailed
from stacks_contract.models import LoadResult, RunRequest, TableRef
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import PostgresWarehouse, Warehouse

from stacks_el_dlt.sources.sql_probe import (
    fast_identifier,
    postgres_relations,
    record_run,
    skip_if_unchanged,
)
from stacks_el_dlt.sources.sql_tables import (
    CURSOR_CANDIDATES,
    TablePlan,
    check_options,
    list_tables,
    plan_table,
)
from stacks_el_dlt.step import DltStep

log = logging.getLogger("stacks_el_dlt.sql")


def _url(database: str | PostgresWarehouse) -> str:
    return database.url() if isinstance(database, PostgresWarehouse) else database


def _candidates(cursor: str | Sequence[str] | None) -> tuple[str, ...]:
    if cursor is None:
        return ()
    return (cursor,) if isinstance(cursor, str) else tuple(cursor)


def sql_source(
    database: str | PostgresWarehouse,
    tables: Sequence[str] | None = None,
    *,
    schema: str | None = None,
    cursor: str | Sequence[str] | None = CURSOR_CANDIDATES,
    primary_keys: Mapping[str, str | Sequence[str]] | None = None,
    table_options: Mapping[str, Mapping[str, Any]] | None = None,
    exclude: Iterable[str] = (),
    backend: str = "pyarrow",
    chunk_size: int = 50_000,
    stored: Any = None,
    plans: list[TablePlan] | None = None,
) -> Any:
    """A fresh dlt ``sql_database`` source over ``tables`` (default: all) of ``database``.

    ``cursor``: candidate cursor columns (the first a table has is its cursor);
    ``table_options``: per table ``primary_key``, ``cursor`` (``None``: no cursor) and
    ``write_disposition``; ``stored``: the dlt schema of the last load (new source columns make
    their table reload in full); ``plans`` receives what was chosen per table.
    """
    import dlt
    import sqlalchemy as sa
    from dlt.common.normalizers.naming.snake_case import NamingConvention
    from dlt.sources.sql_database import remove_nullability_adapter, sql_database

    from stacks_el_dlt.sources.sql_types import adapt_query, adapt_type

    options = check_options(table_options)
    for table, key in (primary_keys or {}).items():
        options.setdefault(table, {}).setdefault("primary_key", key)
    engine = sa.create_engine(_url(database))
    try:
        kinds = list_tables(engine, schema)
        names = list(tables) if tables is not None else list(list_tables(engine, schema, exclude))
        metadata = sa.MetaData(schema=schema)
        metadata.reflect(bind=engine, views=True, only=names)
    finally:
        engine.dispose()
    if not names:
        raise ConfigError(f"The source database has no table to replicate (schema {schema!r}).")
    naming = NamingConvention()
    chosen: list[TablePlan] = []
    for name in names:
        reflected = metadata.tables[f"{schema}.{name}" if schema else name]
        target = naming.normalize_table_identifier(name)
        columns = None
        if stored is not None and target in stored.tables:
            columns = [c for c in stored.tables[target].get("columns", {})]
        plan = plan_table(
            reflected,
            kinds.get(name, "table"),
            options.get(name, {}),
            _candidates(cursor),
            columns,
            naming.normalize_identifier,
        )
        chosen.append(plan)
    if plans is not None:
        plans.extend(chosen)
    postgres = engine.dialect.name == "postgresql"
    source = sql_database(
        credentials=_url(database),
        schema=schema,
        metadata=metadata,
        table_names=names,
        # a plain str here: dlt's hint is a Literal of backend names, and dlt checks the name
        backend=backend,  # type: ignore[arg-type]
        chunk_size=chunk_size,
        reflection_level="full_with_precision",
        type_adapter_callback=adapt_type if postgres else None,
        query_adapter_callback=adapt_query if postgres else None,
        # NOT NULL stays in the source: a new NOT NULL source column must not fail the
        # ALTER TABLE that adds it to a warehouse table which already has rows
        table_adapter_callback=remove_nullability_adapter,
    )
    for plan in chosen:
        hints: dict[str, Any] = {
            "write_disposition": plan.write_disposition,
            "primary_key": list(plan.primary_key),
        }
        if plan.cursor is not None:
            # merge makes dlt's dedup of rows at the last cursor value unnecessary: no row
            # hashes in the state (primary_key=()), rows strictly after the last value
            hints["incremental"] = dlt.sources.incremental(
                plan.cursor,
                primary_key=(),
                range_start="open",
                on_cursor_value_missing="include" if plan.cursor_nullable else "raise",
            )
        source.resources[plan.table].apply_hints(**hints)
    return source


def _relations(url: str, schema: str | None, exclude: Iterable[str]) -> list[str] | None:
    """The source's relations from its catalog without SQLAlchemy (Postgres), else ``None``."""
    from fnmatch import fnmatchcase

    try:
        found = postgres_relations(url, schema)
    except Exception:
        return None  # the reflection the caller falls back to says what is wrong
    patterns = tuple(exclude)
    return [n for n in sorted(found or ()) if not any(fnmatchcase(n, p) for p in patterns)]


class SqlDatabaseStep(DltStep):
    """Tables of a SQL database as an EL step: every table, view and materialized view of the
    schema by default (``tables`` to pick, ``exclude`` patterns to leave out); keyed tables
    merge incrementally, keyless ones are replaced (see :mod:`.sql_tables`)."""

    incremental = True

    def __init__(
        self,
        database: str | PostgresWarehouse,
        tables: Sequence[str] | None = None,
        *,
        name: str = "app",
        dataset: str | None = None,
        schema: str | None = None,
        cursor: str | Sequence[str] | None = CURSOR_CANDIDATES,
        primary_keys: Mapping[str, str | Sequence[str]] | None = None,
        table_options: Mapping[str, Mapping[str, Any]] | None = None,
        exclude: Iterable[str] = (),
        backend: str = "pyarrow",
        delete_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        #: apply the source's hard deletes after each load (key comparison, see sql_deletes.py)
        self.delete_missing = delete_missing
        self._source_url, self._source_schema = _url(database), schema
        #: rows deleted by the last run because their key is gone from the source
        self.last_deleted: dict[str, int] = {}
        if tables is not None and not tables:
            raise ConfigError("A SQL database step needs at least one table name (or none).")
        self.database = database
        self.source_schema = schema
        self.source_tables = tuple(tables) if tables is not None else None
        self.exclude = tuple(exclude)
        self._source_kwargs: dict[str, Any] = {
            "schema": schema,
            "cursor": cursor,
            "primary_keys": dict(primary_keys or {}),
            "table_options": check_options(table_options),
            "exclude": self.exclude,
            "backend": backend,
        }
        self._names: dict[str, str] | None = None  # source table -> warehouse table
        self.last_plans: tuple[TablePlan, ...] = ()
        self._announced: set[str] = set()
        super().__init__(name, self._make_source, dataset=dataset, **kwargs)
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

    # --- the manifest: the explicit list touches nothing; else the source, once ---------------

    def source_table_names(self) -> dict[str, str]:
        """source table -> warehouse table name (cached per step object)."""
        if self._names is None:
            found = self.source_tables
            if found is None:
                found = tuple(
                    _relations(self._source_url, self.source_schema, self.exclude)
                    or self._reflect(lambda e: list_tables(e, self.source_schema, self.exclude))
                )
            # dlt's naming only for names it would change: importing dlt costs a no-op run ~1 s
            names = {t: fast_identifier(t) for t in found}
            if not all(names.values()):
                from dlt.common.normalizers.naming.snake_case import NamingConvention

                naming = NamingConvention()
                names = {t: naming.normalize_table_identifier(t) for t in found}
            self._names = {t: str(w) for t, w in names.items()}
        return self._names

    def table_resources(self) -> dict[TableRef, str]:
        return {TableRef(self.dataset, w): s for s, w in self.source_table_names().items()}

    # --- a run ----------------------------------------------------------------------------------

    def _make_source(self) -> Any:
        plans: list[TablePlan] = []
        source = self._reflect(
            lambda _e: sql_source(
                self.database,
                list(self.source_table_names()),
                stored=self._bound_schema,
                plans=plans,
                **self._source_kwargs,
            )
        )
        self.last_plans = tuple(plans)
        return source

    def _reflect(self, read: Any) -> Any:
        import sqlalchemy as sa

        engine = sa.create_engine(_url(self.database))
        try:
            return read(engine)
        except (StacksError, sa.exc.NoSuchTableError) as exc:
            if isinstance(exc, StacksError):
                raise
            raise ConfigError(
                f"Step {self.name!r}: table {exc.args[0]!r} does not exist in the source "
                f"database ({self.source_hint})."
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StepFailed(
                self.name,
                self._mask(
                    f"reading the source database failed (source {self.source_hint}): "
                    f"{first[0] if first else type(exc).__name__}"
                ),
            ) from None
        finally:
            engine.dispose()

    def dlt_source(self, request: RunRequest, pipeline: Any = None) -> Any:
        """:meth:`DltStep.dlt_source`; a table with new source columns also forgets its cursor,
        so this run reads every row and the cursor restarts from what it read."""
        source = super().dlt_source(request, pipeline)
        reload = [p.table for p in self.last_plans if p.new_columns and p.cursor]
        if reload and pipeline is not None:
            with pipeline.managed_state() as state:
                resources = state.get("sources", {}).get(source.name, {}).get("resources", {})
                for table in reload:
                    resources.get(table, {}).pop("incremental", None)
        return source

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        self.last_deleted = {}
        if self.delete_missing:
            from stacks_el_dlt.sources.sql_deletes import delete_missing_rows

            self.last_deleted = delete_missing_rows(pipeline, self._source_url, self._source_schema)
        record_run(self, pipeline)

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        skipped = skip_if_unchanged(self, request, warehouse)
        if skipped is not None:
            self.last_traces, self.last_deleted = (), {}
            report(self.name, "nothing new in the source since the last load (dlt not started)")
            return skipped
        result = super().run(request, warehouse, report)
        for line in self.plan_lines():
            report(self.name, line)
        for table, n in self.last_deleted.items():
            report(self.name, f"deleted {n} rows from {table} whose key is gone from the source")
        return result

    def plan_lines(self) -> list[str]:
        """What the last run chose, one line per table: each table once per step object (its
        first run), again whenever its new source columns made it reload in full."""
        lines = []
        for plan in self.last_plans:
            if plan.new_columns:
                lines.append(
                    f"{plan.kind} {plan.table}: new source column(s) "
                    f"{', '.join(plan.new_columns)}: every row read again"
                )
            elif plan.table not in self._announced:
                lines.append(plan.describe())
            self._announced.add(plan.table)
        for line in lines:
            log.info("step %s: %s", self.name, line)
        return lines
