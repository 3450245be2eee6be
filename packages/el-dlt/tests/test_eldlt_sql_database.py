"""``SqlDatabaseStep`` on a real database: every Postgres type and table shape (sql_fixture.sql),
into Postgres and DuckDB, checked value by value against the source."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from stacks_contract import RunRequest, TableRef
from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core import fingerprint
from stacks_core.sql import connect, qualified, quote_ident
from stacks_el_dlt import DltStep, SqlDatabaseStep

META = DltStep.metadata_columns
FIXTURE = Path(__file__).with_name("sql_fixture.sql")
#: what the default step replicates from the fixture: no partitions, views and matview included
FIXTURE_TABLES = ("big_lines", "events_log", "every_type", "line_totals", "measurements")
FIXTURE_TABLES += ("order_lines",)
#: source types loaded as they are (README.md, "Postgres types")
AS_IS = ("int2", "int4", "int8", "float4", "float8", "bool", "date", "time", "timestamp")
AS_IS += ("timestamptz", "bytea", "bpchar")


@pytest.fixture
def source_db(postgres_server):
    wh = postgres_server.create_database(prefix="src")
    with connect(wh) as conn:
        conn.execute(FIXTURE.read_text())
    yield wh
    postgres_server.drop_database(wh.database)


def run(step: Any, wh: Warehouse, lines: list[str] | None = None) -> Any:
    def report(_step: str, message: str) -> None:
        if lines is not None:
            lines.append(message)

    return step.run(RunRequest(stack="t"), wh, report)


# --- the documented rendering (README.md, "Postgres types"), written independently here -------


def _expected_exprs(conn: Any, table: str, keep: bool = False) -> list[tuple[str, str]]:
    """(column, SQL expression giving the value the warehouse must hold) per source column;
    ``keep``: a Postgres warehouse, whose new tables keep every built-in source type."""
    rows = conn.execute(
        "select a.attname, t.typcategory, t.typtype, bt.typname, "
        "information_schema._pg_numeric_precision(coalesce(nullif(t.typbasetype, 0), "
        "a.atttypid), a.atttypmod), coalesce(bt.typname, t.typname) "
        "from pg_attribute a join pg_type t on t.oid = a.atttypid "
        "left join pg_type bt on bt.oid = nullif(t.typbasetype, 0) "
        f"where a.attrelid = '{table}'::regclass and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum"
    )
    out = []
    for name, category, typtype, _base, precision, typname in rows:
        col = quote_ident(name)
        element_is_enum = category == "A" and typname.lstrip("_") in ("mood",)
        if keep and typname != "money" and typtype != "e" and not element_is_enum:
            out.append((name, col))  # the same type on both sides: psycopg decodes both alike
            continue
        if keep and element_is_enum:
            out.append((name, f"to_jsonb({col})"))  # enum labels in a jsonb array
            continue
        if category == "A":
            expr = f"to_jsonb({col})::text"  # arrays: JSON text
        elif typname == "money":
            expr = f"{col}::numeric"
        elif typname == "numeric":
            expr = col if precision is not None and precision <= 38 else f"{col}::text"
        elif typtype == "e" or typname in ("text", "varchar", "uuid"):
            expr = f"{col}::text"
        elif typname in AS_IS:
            expr = col
        else:  # json, jsonb, timetz, interval, inet, cidr, tsvector, ranges: Postgres's text
            expr = f"{col}::text"
        out.append((name, expr))
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    return value


def assert_same_values(source: PostgresWarehouse, wh: Warehouse, table: str) -> None:
    with connect(source) as conn:
        exprs = _expected_exprs(conn, table, keep=isinstance(wh, PostgresWarehouse))
        sql = ", ".join(e for _n, e in exprs)
        expected = conn.execute(f"select {sql} from {quote_ident(table)}")
    names = ", ".join(quote_ident(n) for n, _e in exprs)
    with connect(wh) as conn:
        got = conn.execute(f"select {names} from {qualified(wh.schema_name, table)}")

    def rows(data: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted((tuple(_norm(v) for v in r) for r in data), key=repr)

    want, have = rows(expected), rows(got)
    assert len(want) == len(have), table
    for w, h in zip(want, have, strict=True):
        for (name, _e), a, b in zip(exprs, w, h, strict=True):
            assert a == b, f"{table}.{name}: source {a!r} != warehouse {b!r}"


# --- the fixture database with the default step --------------------------------------------


def test_default_step_replicates_every_table_idempotently(source_db, warehouse) -> None:
    step = SqlDatabaseStep(source_db)
    assert step.produces() == tuple(TableRef("raw", t) for t in FIXTURE_TABLES)
    first_lines: list[str] = []
    first = run(step, warehouse, first_lines)
    assert set(first.rows) == {f"raw.{t}" for t in FIXTURE_TABLES}
    # one line per table saying what was chosen, on the first run only
    assert sorted(first_lines[-len(FIXTURE_TABLES) :]) == [
        "materialized view line_totals: replace (a full snapshot every run; no primary key)",
        "partitioned table measurements: merge on (id, taken), incremental on modified_at",
        "table events_log: replace (a full snapshot every run; no primary key)",
        "table every_type: merge on (id), incremental on updated_at",
        "table order_lines: merge on (order_id, line_no), incremental on xmin (no cursor column)",
        "view big_lines: replace (a full snapshot every run; no primary key)",
    ]
    prints = [fingerprint(warehouse, metadata=META)]
    for _ in range(2):
        later: list[str] = []
        run(step, warehouse, later)
        assert not any(":" in line and "replace" in line for line in later)
        prints.append(fingerprint(warehouse, metadata=META))
    assert prints[0] == prints[1] == prints[2]
    for table in FIXTURE_TABLES:
        assert_same_values(source_db, warehouse, table)


def test_produces_reads_the_source_once_and_skips_partitions(source_db) -> None:
    step = SqlDatabaseStep(source_db, exclude=["big_*"])
    tables = step.produces()
    assert TableRef("raw", "big_lines") not in tables
    assert not any(t.name.startswith("measurements_") for t in tables)
    with connect(source_db) as conn:
        conn.execute("create table later (id int primary key)")
    assert step.produces() == tables  # cached per step object


# --- one test per defect seen on real data (issue 15); each failed on 62eb064 ------------------


def test_keyless_tables_and_views_are_replaced_not_appended(source_db, duckdb_warehouse) -> None:
    step = SqlDatabaseStep(source_db, ["events_log", "big_lines"], cursor=None)
    for _ in range(2):
        run(step, duckdb_warehouse)
    with connect(duckdb_warehouse) as conn:
        assert conn.count("raw", "events_log") == 3  # its duplicate rows kept, never tripled
        assert conn.count("raw", "big_lines") == 8


def test_every_postgres_type_loads_with_its_value(source_db, warehouse) -> None:
    """json/jsonb (Postgres: 'unsupported jsonb version number'), arrays, bytea, interval, inet,
    unbounded and wide numeric, timetz's offset (DuckDB), enum, domain, tsvector, ranges."""
    run(SqlDatabaseStep(source_db, ["every_type"]), warehouse)
    assert_same_values(source_db, warehouse, "every_type")


def test_a_table_without_the_cursor_column_loads(source_db, duckdb_warehouse) -> None:
    # main: one step-wide cursor "updated_at" failed every table lacking it
    result = run(SqlDatabaseStep(source_db, ["order_lines", "every_type"]), duckdb_warehouse)
    assert result.rows == {"raw.order_lines": 15, "raw.every_type": 3}


def test_a_declared_cursor_that_is_missing_names_the_table(source_db, duckdb_warehouse) -> None:
    step = SqlDatabaseStep(
        source_db, ["order_lines"], table_options={"order_lines": {"cursor": "changed"}}
    )
    with pytest.raises(ConfigError, match=r"'order_lines'.*'changed' does not exist"):
        run(step, duckdb_warehouse)


def test_per_table_options_override_the_default(source_db, duckdb_warehouse) -> None:
    lines: list[str] = []
    options = {
        "order_lines": {"write_disposition": "replace"},
        "events_log": {"primary_key": ["happened", "what"], "cursor": None},
    }
    step = SqlDatabaseStep(source_db, ["order_lines", "events_log"], table_options=options)
    run(step, duckdb_warehouse, lines)
    assert "table order_lines: replace (a full snapshot every run; declared)" in lines
    assert (
        "table events_log: merge on (happened, what), full scan every run (no cursor "
        "column)" in lines
    )
    with connect(duckdb_warehouse) as conn:
        assert conn.count("raw", "events_log") == 2  # merged on the declared key


def test_many_rows_sharing_the_last_cursor_value_keep_the_state_small(
    source_db, duckdb_warehouse
) -> None:
    with connect(source_db) as conn:
        conn.execute(
            "create table same_time (id int primary key, v text, updated_at timestamptz not null)"
        )
        conn.execute(
            "insert into same_time select g, 'v' || g, '2024-01-01' from generate_series(1, 5000) g"
        )
    step = SqlDatabaseStep(source_db, ["same_time"])
    assert run(step, duckdb_warehouse).rows == {"raw.same_time": 5000}
    state = step.dlt_pipeline(duckdb_warehouse).state
    # main: dlt kept one row hash per row at the last cursor value (> 60 kB here)
    assert len(json.dumps(state["sources"], default=str)) < 2_000
    assert run(step, duckdb_warehouse).total_rows == 0


def test_a_new_source_column_is_filled_for_every_row(source_db, postgres_warehouse) -> None:
    warehouse = postgres_warehouse
    with connect(source_db) as conn:
        conn.execute("create table accounts (id int primary key, updated_at timestamptz not null)")
        conn.execute("insert into accounts select g, '2024-01-01' from generate_series(1, 5) g")
    step = SqlDatabaseStep(source_db, ["accounts"])
    run(step, warehouse)
    with connect(source_db) as conn:
        conn.execute(
            "alter table accounts add column tier text default 'gold', "
            "add column region text not null default 'eu'"  # NOT NULL: no failed ALTER TABLE
        )
        conn.execute("update accounts set updated_at = '2025-01-01' where id = 1")
    lines: list[str] = []
    run(step, warehouse, lines)
    # main: only the row whose cursor moved had it (4 of 5 NULL)
    with connect(warehouse) as conn:
        tiers = conn.execute("select tier, region, count(*) from raw.accounts group by 1, 2")
    assert tiers == [("gold", "eu", 5)]
    assert "table accounts: new source column(s) tier, region: every row read again" in lines
    assert run(step, warehouse).total_rows == 0  # reloaded once, incremental again


def test_the_warehouse_schema_is_the_default_dataset(source_db, postgres_warehouse) -> None:
    landing = postgres_warehouse.with_schema("landing")
    step = SqlDatabaseStep(source_db, ["order_lines"], cursor=None)
    assert run(step, landing).rows == {"landing.order_lines": 15}
    assert step.produces() == (TableRef("landing", "order_lines"),)
    with connect(landing) as conn:
        assert conn.count("landing", "order_lines") == 15
