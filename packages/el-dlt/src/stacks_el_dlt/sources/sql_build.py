"""``sql_source``: dlt's ``sql_database`` source, configured per table by what the catalog says.

Every piece is one of dlt's own hooks: ``type_adapter_callback`` and ``query_adapter_callback``
(:mod:`.sql_types`, :mod:`.sql_query`), ``table_adapter_callback`` (NOT NULL dropped, the xmin
cursor column added), ``table_loader_class`` (:mod:`.sql_loader`) and per-resource hints
(write disposition, key, incremental, column types, file format).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import PostgresWarehouse

from stacks_el_dlt.names import PG_TYPE, XMIN
from stacks_el_dlt.sources.sql_query import TableReading
from stacks_el_dlt.sources.sql_tables import (
    CURSOR_CANDIDATES,
    TablePlan,
    check_options,
    list_tables,
    plan_table,
)

__all__ = ["SourceBuild", "sql_source", "url_of"]


@dataclass
class SourceBuild:
    """What building the source found, for the step to report and act on."""

    plans: list[TablePlan] = field(default_factory=list)
    #: relations left out because the source user cannot read them: name -> why
    skipped: dict[str, str] = field(default_factory=dict)
    #: the source's current snapshot xmin (tables read by xmin only)
    snapshot_xmin: int | None = None


def url_of(database: str | PostgresWarehouse) -> str:
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
    keep_types: bool = False,
    build: SourceBuild | None = None,
) -> Any:
    """A fresh dlt ``sql_database`` source over ``tables`` (default: all) of ``database``.

    ``cursor``: candidate cursor columns (names or ``fnmatch`` patterns); ``table_options``: per
    table ``primary_key``, ``cursor`` (``None``: no cursor) and ``write_disposition``;
    ``stored``: the dlt schema of the last load (new source columns make their table reload in
    full); ``keep_types``: a Postgres warehouse, whose new tables keep the source's column types;
    ``plans`` / ``build`` receive what was chosen per table.
    """
    import dlt
    import sqlalchemy as sa
    from dlt.common.normalizers.naming.snake_case import NamingConvention
    from dlt.sources.sql_database import sql_database

    from stacks_el_dlt.sources.sql_catalog import (
        current_snapshot_xmin,
        pg_type_texts,
        unreadable,
    )
    from stacks_el_dlt.sources.sql_loader import loader_class
    from stacks_el_dlt.sources.sql_query import adapt_query
    from stacks_el_dlt.sources.sql_types import adapt_type

    build = build if build is not None else SourceBuild()
    options = check_options(table_options)
    for table, key in (primary_keys or {}).items():
        options.setdefault(table, {}).setdefault("primary_key", key)
    engine = sa.create_engine(url_of(database))
    postgres = engine.dialect.name == "postgresql"
    naming = NamingConvention()
    try:
        kinds = list_tables(engine, schema)
        names = list(tables) if tables is not None else list(list_tables(engine, schema, exclude))
        build.skipped = unreadable(engine, schema, names)
        names = [n for n in names if n not in build.skipped]
        if not names:
            return None
        metadata = sa.MetaData(schema=schema)
        metadata.reflect(bind=engine, views=True, only=names)
        # a Postgres warehouse keeps the source's types in the tables it creates, and in the
        # tables it created so (their stored columns carry the kept type)
        stored_columns = {
            n: _stored_columns(stored, naming.normalize_table_identifier(n)) for n in names
        }
        keep = [n for n in names if _keeps_types(stored_columns[n])]
        pg_types = pg_type_texts(engine, schema, keep) if keep_types and postgres and keep else {}
        chosen: list[TablePlan] = []
        for name in names:
            reflected = metadata.tables[f"{schema}.{name}" if schema else name]
            target = naming.normalize_table_identifier(name)
            columns = None
            if stored is not None and target in stored.tables:
                columns = [c for c in stored.tables[target].get("columns", {})]
            chosen.append(
                plan_table(
                    reflected,
                    kinds.get(name, "table"),
                    options.get(name, {}),
                    _candidates(cursor),
                    columns,
                    naming.normalize_identifier,
                    xmin=postgres,
                )
            )
        if postgres and any(p.cursor == XMIN for p in chosen):
            build.snapshot_xmin = current_snapshot_xmin(engine)
    finally:
        engine.dispose()
    build.plans = chosen
    if plans is not None:
        plans.extend(chosen)
    readings = {
        p.table: _reading(
            metadata.tables[f"{schema}.{p.table}" if schema else p.table],
            p,
            pg_types.get(p.table, {}),
            stored_columns[p.table],
        )
        for p in chosen
    }
    source = sql_database(
        credentials=url_of(database),
        schema=schema,
        metadata=metadata,
        table_names=names,
        # a plain str here: dlt's hint is a Literal of backend names, and dlt checks the name
        backend=backend,  # type: ignore[arg-type]
        chunk_size=chunk_size,
        reflection_level="full_with_precision",
        type_adapter_callback=adapt_type if postgres else None,
        query_adapter_callback=partial(adapt_query, readings) if postgres else None,
        table_adapter_callback=partial(_adapt_table, readings),
        table_loader_class=loader_class(readings) if postgres else None,
    )
    for plan in chosen:
        resource = source.resources[plan.table]
        hints: dict[str, Any] = {
            "write_disposition": plan.write_disposition,
            "primary_key": list(plan.primary_key),
        }
        if plan.cursor is not None:
            # merge makes dlt's dedup of rows at the last cursor value unnecessary: no row
            # hashes in the state (primary_key=()), rows strictly after the last value (xmin:
            # from the last snapshot's, which a transaction running then may have written)
            hints["incremental"] = dlt.sources.incremental(
                plan.cursor,
                primary_key=(),
                range_start="closed" if plan.cursor == XMIN else "open",
                on_cursor_value_missing="include" if plan.cursor_nullable else "raise",
            )
        reading = readings[plan.table]
        if reading.keep_as_text:
            # each value as a SQL literal of its column's type (jsonb, arrays, ...): Parquet
            # through ADBC's binary COPY cannot feed those types, and dlt's CSV COPY reads a
            # quoted empty string as NULL (FORCE_NULL)
            hints["file_format"] = "insert_values"
        resource.apply_hints(**hints)
        _column_hints(
            resource,
            metadata.tables[f"{schema}.{plan.table}" if schema else plan.table],
            reading,
            pg_types.get(plan.table, {}),
        )
    return source


def _keeps_types(stored: Mapping[str, Any] | None) -> bool:
    return stored is None or any(PG_TYPE in c for c in stored.values())


def _stored_columns(stored: Any, table: str) -> dict[str, Any] | None:
    if stored is None or table not in stored.tables:
        return None
    return dict(stored.tables[table].get("columns", {}))


def _reading(
    table: Any,
    plan: TablePlan,
    pg_types: Mapping[str, str | None],
    stored: Mapping[str, Any] | None,
) -> TableReading:
    """Which columns keep their Postgres type (a Postgres warehouse, a table it created so):
    a new table's eligible columns; a stored table's kept ones and its new eligible ones."""
    from sqlalchemy import types as sa

    from stacks_el_dlt.sources.sql_types import JSON, TEXT, rendering

    # money stays numeric(19,2): its text is in the source session's lc_monetary
    keep = {
        c.name
        for c in table.columns
        if pg_types.get(c.name)
        and (rendering(c.type) in (TEXT, JSON) or isinstance(c.type, sa.CHAR))
        and (stored is None or c.name not in stored or PG_TYPE in stored[c.name])
    }
    if keep:
        # the table then loads as SQL literals (see sql_source): floats as Postgres's text too
        # (dlt writes a NaN as the bare word nan)
        keep |= {
            c.name for c in table.columns if pg_types.get(c.name) and isinstance(c.type, sa.Float)
        }
    return TableReading(keep_as_text=frozenset(keep), xmin=plan.cursor == XMIN)


def _adapt_table(readings: Mapping[str, TableReading], table: Any) -> None:
    import sqlalchemy as sa
    from dlt.sources.sql_database import remove_nullability_adapter

    # NOT NULL stays in the source: a new NOT NULL source column must not fail the ALTER TABLE
    # that adds it to a warehouse table which already has rows
    remove_nullability_adapter(table)
    reading = readings.get(table.name)
    if reading is not None and reading.xmin and XMIN not in table.c:
        table.append_column(sa.Column(XMIN, sa.BigInteger))  # dlt's incremental needs a column


def _column_hints(
    resource: Any, table: Any, reading: TableReading, pg_types: Mapping[str, str | None]
) -> None:
    from stacks_el_dlt.sources.sql_types import int_bits

    columns = resource.columns
    if not isinstance(columns, dict):
        return
    columns.pop(XMIN, None)
    for col in table.columns:
        hint = columns.get(col.name)
        if hint is None:
            continue
        if col.name in reading.keep_as_text:
            hint.update({"data_type": "text", PG_TYPE: pg_types[col.name]})
            hint.pop("precision", None)
        elif (bits := int_bits(col.type)) is not None:
            hint["precision"] = bits


def no_table_error(schema: str | None) -> ConfigError:
    return ConfigError(f"The source database has no table to replicate (schema {schema!r}).")
