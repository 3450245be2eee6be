"""A ``SqlDatabaseStep`` run with nothing new in the source skips dlt (bench key
el_sql_noop_vs_sling); everything that must load still loads: a changed row, a new column, a
dropped raw schema, a full refresh, a snapshot table, another run's load in between."""

from __future__ import annotations

from typing import Any

import pytest
from stacks_contract import RunRequest
from stacks_core.sql import connect
from stacks_el_dlt import SqlDatabaseStep

SKIPPED = "nothing new in the source since the last load (dlt not started)"
SOURCE = """
create table orders (id bigint primary key, status text not null,
                     updated_at timestamptz not null);
insert into orders select i, 'placed', timestamptz '2024-01-01' + i * interval '1 minute'
from generate_series(1, 40) i;
create table audit (actor text, at timestamptz);
insert into audit values ('a', now());
"""


@pytest.fixture
def source(postgres_server):
    wh = postgres_server.create_database(prefix="probe")
    with connect(wh) as conn:
        conn.execute(SOURCE)
    yield wh
    postgres_server.drop_database(wh.database)


def run(step: Any, wh: Any, *, full_refresh: bool = False) -> tuple[dict[str, int], list[str]]:
    lines: list[str] = []
    result = step.run(
        RunRequest(stack="t", full_refresh=full_refresh), wh, lambda _s, m: lines.append(m)
    )
    return result.rows, lines


def test_nothing_new_skips_dlt_and_each_change_still_loads(source, postgres_warehouse) -> None:
    warehouse = postgres_warehouse
    step = SqlDatabaseStep(source, ["orders"])
    assert run(step, warehouse)[0] == {"raw.orders": 40}
    assert run(step, warehouse) == ({}, [SKIPPED])
    with connect(source) as conn:
        conn.execute("update orders set status = 'paid', updated_at = now() where id = 7")
    assert run(step, warehouse)[0] == {"raw.orders": 1}
    assert run(SqlDatabaseStep(source, ["orders"]), warehouse) == ({}, [SKIPPED])
    rows, lines = run(step, warehouse, full_refresh=True)
    assert rows == {"raw.orders": 40} and SKIPPED not in lines
    with connect(warehouse) as conn:
        got = conn.execute(
            "select count(*), sum(case when status = 'paid' then 1 end) from raw.orders"
        )
    assert got == [(40, 1)]


def test_a_dropped_raw_schema_or_a_new_source_column_loads_again(source, duckdb_warehouse) -> None:
    step = SqlDatabaseStep(source, ["orders"])
    run(step, duckdb_warehouse)
    with connect(duckdb_warehouse) as conn:
        conn.execute("drop schema raw cascade")
    assert run(step, duckdb_warehouse)[0] == {"raw.orders": 40}
    with connect(source) as conn:
        conn.execute("alter table orders add column note text default 'n'")
    rows, lines = run(step, duckdb_warehouse)
    assert rows == {"raw.orders": 40}
    assert any("new source column(s) note" in line for line in lines)
    assert run(step, duckdb_warehouse) == ({}, [SKIPPED])


def test_another_load_in_between_or_a_snapshot_table_runs_dlt(
    source, duckdb_warehouse, tmp_path
) -> None:
    step = SqlDatabaseStep(source, ["orders"])
    run(step, duckdb_warehouse)
    # the same step from another machine (another dlt working folder) loads a change
    elsewhere = SqlDatabaseStep(source, ["orders"], pipelines_base_dir=tmp_path / "other")
    with connect(source) as conn:
        conn.execute("update orders set status = 'paid', updated_at = now() where id = 3")
    assert run(elsewhere, duckdb_warehouse)[0] == {"raw.orders": 1}
    rows, lines = run(step, duckdb_warehouse)
    assert SKIPPED not in lines and rows == {}  # dlt ran: its state came from the warehouse
    assert run(step, duckdb_warehouse) == ({}, [SKIPPED])
    snapshot = SqlDatabaseStep(source, ["orders", "audit"], name="both")
    run(snapshot, duckdb_warehouse)
    rows, lines = run(snapshot, duckdb_warehouse)
    assert rows == {"raw.audit": 1} and SKIPPED not in lines
