"""A Postgres source that changes as real ones do (issue 28), on DuckDB and Postgres warehouses.

``drift_fixture.sql`` is the source. Each test changes it the way a real source changes, then
checks what a user sees: every value read back from the warehouse equals the source's (read
independently here), the run's lines and quarantine name what happened, and three runs leave
the warehouse as one run does. Each test failed on main before issue 28.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from stacks_contract import RunRequest
from stacks_contract.errors import StepFailed
from stacks_contract.models import RunStatus, StackSpec
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect
from stacks_el_dlt import QUARANTINE_TABLE, DltStep, SqlDatabaseStep
from stacks_el_dlt.errors import TablesFailed

META = DltStep.metadata_columns
FIXTURE = Path(__file__).with_name("drift_fixture.sql")


@pytest.fixture
def source(postgres_server):
    wh = postgres_server.create_database(prefix="drift")
    with connect(wh) as conn:
        conn.execute(FIXTURE.read_text())
    yield wh
    postgres_server.drop_database(wh.database)


def sql(wh: Warehouse, statement: str) -> list[tuple[Any, ...]]:
    with connect(wh) as conn:
        return conn.execute(statement)


def run(step: SqlDatabaseStep, wh: Warehouse, lines: list[str] | None = None, **kw: Any) -> Any:
    def report(_step: str, message: str) -> None:
        if lines is not None:
            lines.append(message)

    return step.run(RunRequest(stack="t", **kw), wh, report)


def _norm(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, Decimal | float):
        return Decimal(str(value)).normalize()
    return value


def same_rows(
    source: Warehouse, wh: Warehouse, table: str, columns: str, where: str = "true"
) -> None:
    """The warehouse's rows equal the source's, column by column, value by value."""
    want = sql(source, f"select {columns} from {table} where {where} order by 1")
    have = sql(wh, f"select {columns} from raw.{table} where {where} order by 1")
    assert [tuple(map(_norm, r)) for r in have] == [tuple(map(_norm, r)) for r in want]


def quarantine(wh: Warehouse) -> list[tuple[Any, ...]]:
    """The quarantine's rows, sorted (the fingerprint skips ``_stacks_*`` tables)."""
    with connect(wh) as conn:
        if not conn.table_exists("raw", QUARANTINE_TABLE):
            return []
        rows = conn.execute(
            f"select step, table_name, column_name, reason, payload from raw.{QUARANTINE_TABLE}"
        )
    return sorted(rows, key=repr)


def three_runs_equal_one(step: SqlDatabaseStep, wh: Warehouse) -> None:
    once, set_aside = fingerprint(wh, metadata=META), quarantine(wh)
    run(step, wh)
    run(step, wh)
    assert fingerprint(wh, metadata=META) == once
    assert quarantine(wh) == set_aside


def declared_types(wh: Warehouse, schema: str, columns: tuple[str, ...]) -> dict[str, str]:
    """The warehouse's own type of each column of ``schema``.accounts, length and scale shown."""
    if wh.kind == "duckdb":
        query = "select column_name, data_type from information_schema.columns"
    else:
        query = (
            "select column_name, coalesce(udt_name || '(' || coalesce(numeric_precision || ','"
            " || numeric_scale, character_maximum_length::text) || ')', udt_name) "
            "from information_schema.columns"
        )
    names = ", ".join(f"'{c}'" for c in columns)
    where = f" where table_schema = '{schema}' and table_name = 'accounts'"
    return dict(sql(wh, query + where + f" and column_name in ({names})"))


def test_widened_new_and_dropped_columns_keep_every_value(source, warehouse) -> None:
    step = SqlDatabaseStep(source, ["accounts"])
    run(step, warehouse)
    ratios = sql(warehouse, "select id, ratio from raw.accounts where id > 1 order by id")
    with connect(source) as conn:
        conn.execute("alter table accounts drop column ratio")
        conn.execute("update accounts set name = 'ann2', updated_at = '2024-06-01' where id = 1")
    assert run(step, warehouse).rows == {"raw.accounts": 1}
    # a column the source dropped stays in the warehouse: NULL in the rows loaded since
    assert sql(warehouse, "select ratio from raw.accounts where id = 1") == [(None,)]
    kept = sql(warehouse, "select id, ratio from raw.accounts where id > 1 order by id")
    assert [(i, _norm(r)) for i, r in kept] == [(i, _norm(r)) for i, r in ratios]
    same_rows(source, warehouse, "accounts", "id, price, qty, name")
    three_runs_equal_one(step, warehouse)

    with connect(source) as conn:
        conn.execute(
            "alter table accounts alter price type numeric(14, 3), "
            "alter qty type numeric(12, 2), alter name type varchar(40), "
            "add column tier text default 'gold'"
        )
        # 30.01 has no exact binary float: a DOUBLE qty would not compare equal
        conn.execute(
            "insert into accounts (id, price, qty, name, updated_at) values "
            "(4, 1.125, 30.01, 'a name longer than ten', '2025-01-01'), "
            "(5, 12345678901.125, -7.25, 'beyond the old precision', '2025-01-01')"
        )
    lines: list[str] = []
    result = run(step, warehouse, lines)
    # main: 1.13 and 31 on DuckDB; "incorrect binary data format" / "numeric field overflow" /
    # "value too long for type character varying(10)" on Postgres, every later run
    assert (
        "table accounts: column price changed type decimal(10,2) -> decimal(14,3): widened"
        " to decimal(14,3) in the warehouse" in lines
    )
    assert any(
        line.startswith("table accounts: column qty changed type bigint(32)") for line in lines
    )
    assert result.quarantined == {}
    columns = ("price", "qty", "name")
    if warehouse.kind == "duckdb":
        want = {"price": "DECIMAL(14,3)", "qty": "DECIMAL(12,2)", "name": "VARCHAR"}
        assert declared_types(warehouse, "raw", columns) == want
    else:
        want = {"price": "numeric(14,3)", "qty": "numeric(12,2)", "name": "varchar(40)"}
        for schema in ("raw", "raw_staging"):
            assert declared_types(warehouse, schema, columns) == want, schema
    same_rows(source, warehouse, "accounts", "id, price, qty, name, tier")
    three_runs_equal_one(step, warehouse)


def test_poison_values_are_set_aside_naming_the_column(source, warehouse) -> None:
    with connect(source) as conn:
        # numeric(p,s) refuses infinity: only an unbounded numeric holds it, and loads it
        conn.execute("alter table accounts add column total numeric")
        conn.execute(
            "insert into accounts (id, price, happened, day, at_time, seen, ratio) values "
            "(10, 'NaN', now(), now(), '10:00', now(), 1), "
            "(11, 1, 'infinity', now(), '10:00', now(), 1), "
            "(12, 1, now(), '10000-01-01', '10:00', now(), 1), "
            "(13, 1, now(), now(), '24:00', now(), 1), "
            "(14, 1, '-infinity', '0044-03-15 BC', '10:00', now(), '-Infinity'), "
            "(15, 1, now(), now(), '10:00', now(), 1), "
            "(16, 1, now(), 'infinity', '10:00', now(), 1), "
            "(17, 1, now(), now(), '10:00', '10000-01-01', 1), "
            "(18, 1, now(), now(), '10:00', '-infinity', 1)"
        )
        conn.execute("update accounts set total = 'Infinity' where id = 15")
    step = SqlDatabaseStep(source, ["accounts", "log"])
    result = run(step, warehouse)
    # main: "year 0 is out of range" (or 10000, or hour 24) failed the step; nothing loaded
    assert result.rows == {"raw.accounts": 4, "raw.log": 2}
    assert result.quarantined == {"raw.accounts": 8}
    got = sorted(sql(warehouse, f"select column_name, reason from raw.{QUARANTINE_TABLE}"))
    named = [
        *("at_time='24:00:00'", "day='0044-03-15 BC'", "day='10000-01-01'", "day='infinity'"),
        *("happened='infinity'", "price='NaN'", "seen='-infinity'"),
        "seen='10000-01-01 00:00:00'",
    ]
    assert [c for c, _ in got] == [n.split("=")[0] for n in named], got
    for column_value in named:
        assert any(column_value in reason for _, reason in got), (column_value, got)
    same_rows(
        source,
        warehouse,
        "accounts",
        "id, price, happened, day, at_time, seen, ratio, total",
        "id < 10",
    )
    # an unbounded numeric is the same type on Postgres, exact text on DuckDB: a value
    [(total,)] = sql(warehouse, "select total from raw.accounts where id = 15")
    assert str(total) == "Infinity"
    # a double holds NaN and infinity on every warehouse: carried as a value
    assert _norm(sql(warehouse, "select ratio from raw.accounts where id = 2")[0][0]) == "NaN"
    same_rows(source, warehouse, "log", "what, n")
    three_runs_equal_one(step, warehouse)
    assert len(sql(warehouse, f"select * from raw.{QUARANTINE_TABLE}")) == 8


def test_an_unreadable_relation_fails_alone(source, warehouse) -> None:
    step = SqlDatabaseStep(source, exclude=["notes"])
    run(step, warehouse)
    before = sql(warehouse, "select st, n from raw.totals order by 1")
    assert before
    with connect(source) as conn:
        conn.execute("refresh materialized view totals with no data")
        conn.execute("insert into log values ('c', 3)")
    for full_refresh in (False, True):
        lines: list[str] = []
        result = run(step, warehouse, lines, full_refresh=full_refresh)
        # main: "materialized view "totals" has not been populated" failed the whole step
        assert (
            "skipped totals: a materialized view that was never refreshed (WITH NO DATA)" in lines
        )
        assert result.rows["raw.log"] == 3
        assert sql(warehouse, "select st, n from raw.totals order by 1") == before
        same_rows(source, warehouse, "log", "what, n")
    three_runs_equal_one(step, warehouse)
    listed = SqlDatabaseStep(source, ["log", "totals"], name="listed")
    with pytest.raises(StepFailed, match=r"cannot read 1 source relation.*totals: a materialized"):
        run(listed, warehouse)
    assert listed.last_build.skipped == {
        "totals": "a materialized view that was never refreshed (WITH NO DATA)"
    }


def test_a_table_without_a_cursor_column_is_read_by_xmin(source, warehouse) -> None:
    step = SqlDatabaseStep(source, ["notes"])
    lines: list[str] = []
    assert run(step, warehouse, lines).rows == {"raw.notes": 20}
    assert "table notes: merge on (id), incremental on xmin (no cursor column)" in lines
    with connect(source) as conn:
        conn.execute("update notes set body = body || ' (edited)' where id in (3, 7)")
        conn.execute("insert into notes values (21, 'new')")
    # main: all 20 rows re-read and re-merged every run
    assert run(step, warehouse).rows == {"raw.notes": 3}
    same_rows(source, warehouse, "notes", "id, body")
    assert run(step, warehouse).total_rows == 0
    three_runs_equal_one(step, warehouse)


def test_postgres_to_postgres_keeps_the_source_types(source, postgres_warehouse) -> None:
    run(SqlDatabaseStep(source, ["accounts"]), postgres_warehouse)
    query = (
        "select column_name, data_type, udt_name, character_maximum_length, numeric_precision, "
        "numeric_scale from information_schema.columns where table_schema = '{}' and "
        "table_name = 'accounts' and column_name not like '\\_%' order by column_name"
    )
    source_types = {r[0]: r[1:] for r in sql(source, query.format("public"))}
    kept = {r[0]: r[1:] for r in sql(postgres_warehouse, query.format("raw"))}
    # enums load as their labels (a warehouse need not have the source's enum type)
    assert kept.pop("st") == ("character varying", "varchar", None, None, None)
    source_types.pop("st")
    # main: int -> bigint, jsonb and arrays -> varchar, char(5) -> varchar(5)
    assert kept == source_types
    keys = (
        "select tc.table_name, kc.column_name from information_schema.table_constraints tc "
        "join information_schema.key_column_usage kc using (constraint_schema, constraint_name) "
        "where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = '{}' "
        "and tc.table_name = 'accounts'"
    )
    assert sql(postgres_warehouse, keys.format("raw")) == sql(source, keys.format("public"))
    same_rows(source, postgres_warehouse, "accounts", "id, code, doc, tags, nums, st::text")


def test_duckdb_gets_native_json(source, duckdb_warehouse) -> None:
    run(SqlDatabaseStep(source, ["accounts"]), duckdb_warehouse)
    types = dict(
        sql(
            duckdb_warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'accounts'",
        )
    )
    assert (types["id"], types["doc"], types["nums"], types["price"]) == (
        "INTEGER",
        "JSON",
        "JSON",
        "DECIMAL(10,2)",
    )
    assert sql(duckdb_warehouse, "select nums, tags from raw.accounts where id = 1") == [
        ("[1, null]", '["x", "y z"]')
    ]


def failing_run(step: SqlDatabaseStep, wh: Warehouse, **kw: Any) -> TablesFailed:
    with pytest.raises(TablesFailed) as info:
        run(step, wh, **kw)
    return info.value


def test_a_table_whose_load_fails_fails_alone(source, warehouse) -> None:
    """A constraint added to raw tables by hand that the next source rows break (a merged table
    with a cursor, and a replaced snapshot): the other table loads and its cursor moves; the
    failed ones keep their rows and their cursors; a full refresh replaces tables atomically."""
    sql(source, "update accounts set name = 'cy' where id = 3")
    step = SqlDatabaseStep(source, ["accounts", "log", "notes"])
    run(step, warehouse)
    accounts = sql(warehouse, "select id, name from raw.accounts order by id")
    log = sql(warehouse, "select what, n from raw.log order by n")
    sql(warehouse, "alter table raw.accounts alter column name set not null")
    sql(warehouse, "alter table raw.log alter column what set not null")
    with connect(source) as conn:
        conn.execute("insert into accounts (id, updated_at) values (4, '2025-01-01')")
        conn.execute("insert into log values (null, 3)")
        conn.execute("update notes set body = 'edited' where id = 5")

    failed = failing_run(step, warehouse)
    # main: the load package failed as a whole: log (replaced) was emptied first, and notes'
    # cursor moved only with a later good load
    assert set(failed.tables) == {"accounts", "log"}
    assert "raw.accounts: " in str(failed) and "raw.log: " in str(failed)
    for reason in failed.tables.values():
        assert re.search(r"(?i)not-null|not null", reason), reason
    assert failed.result.rows == {"raw.notes": 1}
    assert sql(warehouse, "select id, name from raw.accounts order by id") == accounts
    assert sql(warehouse, "select what, n from raw.log order by n") == log
    same_rows(source, warehouse, "notes", "id, body")

    # notes' cursor moved (nothing new to read); accounts' did not (its new row is read again)
    again = failing_run(step, warehouse)
    assert set(again.tables) == {"accounts", "log"} and again.result.rows == {}

    # a full refresh replaces every table atomically: the failed ones keep their rows; the
    # failed run's ledger row counts the table that loaded
    record = LocalOrchestrator(attempts=1).run(
        StackSpec(name="t", el_steps=(step,)), RunRequest(stack="t", full_refresh=True), warehouse
    )
    assert record.status == RunStatus.FAILED
    assert "raw.accounts: " in (record.error or "") and "raw.log: " in (record.error or "")
    assert record.rows == {"raw.notes": 20}
    assert sql(warehouse, "select id, name from raw.accounts order by id") == accounts
    assert sql(warehouse, "select what, n from raw.log order by n") == log
    same_rows(source, warehouse, "notes", "id, body")

    sql(warehouse, "alter table raw.accounts alter column name drop not null")
    sql(warehouse, "alter table raw.log alter column what drop not null")
    assert run(step, warehouse).rows == {"raw.accounts": 1, "raw.log": 3}
    for table, columns in (("accounts", "id, name, price"), ("log", "n, what"), ("notes", "id")):
        same_rows(source, warehouse, table, columns)
    three_runs_equal_one(step, warehouse)


def test_a_failing_table_while_a_dropped_one_reloads(source, warehouse) -> None:
    """The "table missing: reloading" path (every table replaced) with one table failing: the
    failure names it alone, the dropped table comes back whole, the other stays as it was."""
    sql(source, "update accounts set name = 'cy' where id = 3")
    step = SqlDatabaseStep(source, ["accounts", "log", "notes"])
    run(step, warehouse)
    accounts = sql(warehouse, "select id, name, price from raw.accounts order by id")
    sql(warehouse, "alter table raw.accounts alter column name set not null")
    sql(warehouse, "drop table raw.notes")
    sql(source, "insert into accounts (id, updated_at) values (4, '2025-01-01')")
    lines: list[str] = []
    with pytest.raises(TablesFailed) as info:
        run(step, warehouse, lines)
    assert "raw.notes missing in the warehouse: reloading the step from the source" in lines
    assert set(info.value.tables) == {"accounts"}
    assert "raw.log" not in str(info.value) and "raw.notes" not in str(info.value)
    assert sql(warehouse, "select id, name, price from raw.accounts order by id") == accounts
    same_rows(source, warehouse, "notes", "id, body")
    same_rows(source, warehouse, "log", "what, n")

    sql(warehouse, "alter table raw.accounts alter column name drop not null")
    run(step, warehouse)
    for table, columns in (("accounts", "id, name, price"), ("log", "n, what"), ("notes", "id")):
        same_rows(source, warehouse, table, columns)
    three_runs_equal_one(step, warehouse)


def column_types(wh: Warehouse, table: str) -> dict[str, str]:
    query = (
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'raw' and table_name = '{table}'"
    )
    return {c: t.lower() for c, t in sql(wh, query)}


def test_an_incompatible_change_quarantines_what_does_not_fit(source, warehouse) -> None:
    step = SqlDatabaseStep(source, ["accounts"])
    run(step, warehouse)
    before = column_types(warehouse, "accounts")
    with connect(source) as conn:
        conn.execute("alter table accounts alter qty type text, alter name type varchar(5)")
        conn.execute(
            "insert into accounts (id, qty, name, updated_at) values "
            "(4, 'many', 'dan', '2025-01-01'), (5, '7', 'eve', '2025-01-01')"
        )
    lines: list[str] = []
    result = run(step, warehouse, lines)
    # main: "Could not convert string 'many' to INT64" (DuckDB), "insufficient data left in
    # message" (Postgres) failed the step
    assert [line for line in lines if "changed type" in line] == [
        "table accounts: column qty changed type bigint(32) -> text: the warehouse keeps "
        "bigint(32); values that do not fit it are set aside"
    ]
    assert column_types(warehouse, "accounts") == before  # narrowing keeps the wider varchar
    assert result.quarantined == {"raw.accounts": 1}
    [(column, reason)] = sql(warehouse, f"select column_name, reason from raw.{QUARANTINE_TABLE}")
    assert column == "qty" and "'many'" in reason
    assert sql(warehouse, "select id, qty, name from raw.accounts where id > 3") == [(5, 7, "eve")]
    three_runs_equal_one(step, warehouse)


@pytest.mark.parametrize("contract", ["freeze", "discard_value"])
def test_schema_contract_freeze_and_discard_value(source, duckdb_warehouse, contract) -> None:
    wh = duckdb_warehouse
    step = SqlDatabaseStep(source, ["accounts", "log"], schema_contract=contract)
    run(step, wh)
    before = column_types(wh, "accounts")
    with connect(source) as conn:
        conn.execute("alter table accounts alter price type numeric(14, 3), add column tier text")
        conn.execute(
            "insert into accounts (id, price, tier, updated_at) values (4, 1.125, 'gold', "
            "'2025-01-01'), (5, 7.5, 'gold', '2025-01-01')"
        )
        conn.execute("insert into log values ('c', 3)")
    lines: list[str] = []
    if contract == "freeze":
        # the warehouse's schema never changes: the table fails alone, naming the columns
        failed = failing_run(step, wh)
        assert set(failed.tables) == {"accounts"}
        assert "price" in failed.tables["accounts"] and "tier" in failed.tables["accounts"]
        assert failed.result.rows == {"raw.log": 3}
        assert sql(wh, "select count(*) from raw.accounts where id > 3") == [(0,)]
    else:
        # the warehouse's schema never changes: what does not fit it is dropped, said in a line
        result = run(step, wh, lines)
        assert result.rows == {"raw.accounts": 2, "raw.log": 3} and result.quarantined == {}
        got = sql(wh, "select id, price from raw.accounts where id > 3 order by id")
        assert got == [(4, None), (5, Decimal("7.50"))]
        assert any("1 value(s) of column price" in line for line in lines), lines
        assert any("new source column(s) tier: not loaded" in line for line in lines), lines
    assert column_types(wh, "accounts") == before


def test_dropped_raw_tables_come_back_with_the_new_types(source, postgres_warehouse) -> None:
    """The README's recovery from an incompatible change: drop the raw table; the next run
    creates it and its merge staging copy with the source's new types."""
    wh = postgres_warehouse
    step = SqlDatabaseStep(source, ["accounts"])
    run(step, wh)
    with connect(source) as conn:
        conn.execute("alter table accounts alter qty type text")
        conn.execute("insert into accounts (id, qty, updated_at) values (4, 'many', '2025-01-01')")
    sql(wh, "drop table raw.accounts")
    lines: list[str] = []
    # main: "insufficient data left in message": the reloaded table kept the stored integer
    assert run(step, wh, lines).rows == {"raw.accounts": 4}
    assert "raw.accounts missing in the warehouse: reloading the step from the source" in lines
    for schema in ("raw", "raw_staging"):
        [(kind,)] = sql(
            wh,
            "select data_type from information_schema.columns where table_schema = "
            f"'{schema}' and table_name = 'accounts' and column_name = 'qty'",
        )
        assert kind in ("text", "character varying"), (schema, kind)
    same_rows(source, wh, "accounts", "id, qty, name")
    three_runs_equal_one(step, wh)


def test_a_table_the_source_user_may_not_select_is_skipped(source, duckdb_warehouse) -> None:
    import uuid

    from pydantic import SecretStr

    role = f"stacks_nosel_{uuid.uuid4().hex[:8]}"
    sql(source, f"create role {role} login password 'pw'")
    try:
        sql(source, f"grant usage on schema public to {role}")
        sql(source, f"grant select on log, notes, totals to {role}")
        reader = source.model_copy(update={"user": role, "password": SecretStr("pw")})
        lines: list[str] = []
        result = run(SqlDatabaseStep(reader), duckdb_warehouse, lines)
        # main: "permission denied for table accounts" failed the whole step
        assert f"skipped accounts: the source user {role!r} may not SELECT from it" in lines
        assert set(result.rows) == {"raw.log", "raw.notes", "raw.totals"}
    finally:
        sql(source, f"drop owned by {role}")
        sql(source, f"drop role {role}")


def test_xmin_wraparound_reads_the_table_in_full_once(source, duckdb_warehouse) -> None:
    from stacks_el_dlt.names import XMIN

    wh = duckdb_warehouse
    step = SqlDatabaseStep(source, ["notes"])
    run(step, wh)
    # the cursor as a read in the next epoch left it: the 32-bit xmin wrapped around since
    pipeline = step.dlt_pipeline(wh)
    with pipeline.managed_state(extract_state=True) as state:
        cursor = state["sources"]["sql_database"]["resources"]["notes"]["incremental"][XMIN]
        cursor["last_value"] = int(cursor["last_value"]) + 2**32
    pipeline.normalize()
    pipeline.load()
    lines: list[str] = []
    assert run(step, wh, lines).rows == {"raw.notes": 20}
    assert (
        "table notes: the source's transaction ids wrapped around since the last read: every "
        "row read again" in lines
    )
    assert run(step, wh).rows == {}
    same_rows(source, wh, "notes", "id, body")
