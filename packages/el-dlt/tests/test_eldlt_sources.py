"""The three shipped sources, end to end, on real Postgres and DuckDB."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stacks_contract import RunRequest, TableRef
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.sql import connect
from stacks_demo.shop import ShopServer
from stacks_el_dlt import DltStep, FilesStep, ShopApiStep, SqlDatabaseStep

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns

SHOP_TABLES = ("customers", "products", "orders", "orders__items", "payments")


def run(step, wh: Warehouse, run_id: str | None = None):
    kw = {"run_id": run_id} if run_id else {}
    return step.run(RunRequest(stack="t", **kw), wh)


def counts(wh: Warehouse, tables) -> dict[str, int]:
    with connect(wh) as conn:
        return {t: conn.count("raw", t) for t in tables}


# --- the shop API (dlt rest_api) -------------------------------------------------------------


def test_shop_order_lines_as_a_json_column(warehouse: Warehouse) -> None:
    """The shop stacks' raw contract: ``orders.items`` stays a JSON array (no child table),
    typed ``json`` on Postgres (Parquet through ADBC cannot COPY into ``jsonb``), queryable."""
    from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV, ShopStep

    with ShopServer(seed=7) as shop:
        os.environ[SHOP_URL_ENV] = shop.url
        try:
            step = ShopStep()
            assert TableRef("raw", "orders__items") not in step.produces()
            first = run(step, warehouse)
            assert run(step, warehouse).total_rows == 0
        finally:
            os.environ.pop(SHOP_URL_ENV)
        orders = shop.state.tables["orders"]
    assert first.rows["raw.orders"] == len(orders) and "raw.orders__items" not in first.rows
    lines = sum(len(o["items"]) for o in orders.values())
    with connect(warehouse) as conn:
        assert not conn.table_exists("raw", "orders__items")
        if conn.dialect == "postgres":
            (kind,) = conn.execute(
                "select data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'orders' and column_name = 'items'"
            )[0]
            assert kind == "json"
            sql = "select count(*) from raw.orders, json_array_elements(items)"
        else:
            sql = "select count(*) from raw.orders, unnest(cast(items as json[]))"
        assert conn.execute(sql)[0][0] == lines


def test_shop_api_loads_every_endpoint_incrementally(warehouse: Warehouse) -> None:
    with ShopServer(seed=7) as shop:
        step = ShopApiStep(shop.url, page_size=50)  # several pages per endpoint
        assert step.produces() == tuple(
            TableRef("raw", t)
            for t in ("customers", "products", "orders", "orders__items", "payments")
        )
        first = run(step, warehouse)
        source = shop.counts()
        loaded = counts(warehouse, SHOP_TABLES)
        assert {k: loaded[k] for k in source} == source
        assert first.rows == {f"raw.{t}": n for t, n in loaded.items()}
        assert loaded["orders__items"] > loaded["orders"]
        # no new data: nothing written, nothing changed
        before = fingerprint(warehouse, metadata=META)
        assert run(step, warehouse).total_rows == 0
        assert fingerprint(warehouse, metadata=META) == before
        # a day passes: new rows appear and some orders/payments change; merged, not duplicated
        shop.advance(days=1)
        third = run(step, warehouse)
        assert 0 < third.rows["raw.orders"] < shop.counts()["orders"]
        loaded = counts(warehouse, SHOP_TABLES)
        assert {k: loaded[k] for k in source} == shop.counts()
        assert third.cursor["orders"] >= first.cursor["orders"]


def test_shop_api_one_load_equals_incremental_loads(
    duckdb_warehouse: Warehouse, tmp_path: Path
) -> None:
    from stacks_contract.warehouse import DuckDBWarehouse

    other = DuckDBWarehouse(path=tmp_path / "once.duckdb")
    with ShopServer(seed=3) as shop:
        step = ShopApiStep(shop.url)
        run(step, duckdb_warehouse)
        for _ in range(3):
            shop.advance(days=1)
            run(step, duckdb_warehouse)
        run(ShopApiStep(shop.url), other)
    assert fingerprint(duckdb_warehouse, metadata=META) == fingerprint(other, metadata=META)


def test_shop_source_version_changes_when_the_shop_does() -> None:
    with ShopServer(seed=1) as shop:
        step = ShopApiStep(shop.url)
        v1 = step.source_version()
        assert step.source_version() == v1
        shop.advance(days=1)
        assert step.source_version() != v1


# --- a SQL database (dlt sql_database) ---------------------------------------------------------


@pytest.fixture
def app_db(postgres_server):
    wh = postgres_server.create_database(prefix="app")
    with connect(wh) as conn:
        conn.execute(
            "create table accounts (id bigint primary key, name text not null, "
            "balance numeric(12,2), updated_at timestamptz not null)"
        )
        conn.execute(
            "insert into accounts select g, 'acct ' || g, g * 1.5, "
            "timestamptz '2024-01-01' + g * interval '1 minute' from generate_series(1, 500) g"
        )
    yield wh
    postgres_server.drop_database(wh.database)


def test_sql_database_merges_incrementally(app_db, warehouse: Warehouse) -> None:
    step = SqlDatabaseStep(app_db, ["accounts"])
    assert step.produces() == (TableRef("raw", "accounts"),)
    assert run(step, warehouse).rows == {"raw.accounts": 500}
    assert run(step, warehouse).total_rows == 0
    with connect(app_db) as conn:
        conn.execute("update accounts set name = 'renamed', updated_at = now() where id = 7")
        conn.execute("insert into accounts values (501, 'new', 1, now())")
    third = run(step, warehouse)
    assert third.rows == {"raw.accounts": 2}
    with connect(warehouse) as conn:
        assert conn.count("raw", "accounts") == 501
        assert conn.execute("select name from raw.accounts where id = 7") == [("renamed",)]
        stamped = conn.execute("select count(*) from raw.accounts where _stacks_run_id is null")
        assert stamped == [(0,)]


def test_a_window_loads_its_rows_and_leaves_the_cursor(app_db, duckdb_warehouse) -> None:
    """``RunRequest.window`` as dlt's backfill (``initial_value``/``end_value``): the rows updated
    in ``[start, end)``; the next run without a window still loads every row (the cursor did
    not move). A source that binds its cursor itself (the shop's rest_api) cannot be bounded:
    one sentence, nothing loaded."""
    from datetime import UTC, datetime

    from stacks_contract.errors import ConfigError
    from stacks_contract.models import Window

    start = datetime(2024, 1, 1, 1, tzinfo=UTC)  # accounts are updated a minute apart from 00:01
    window = Window(start=start, end=datetime(2024, 1, 1, 2, tzinfo=UTC))
    step = SqlDatabaseStep(app_db.url(), tables=["accounts"])
    windowed = step.run(RunRequest(stack="t", window=window), duckdb_warehouse)
    assert windowed.rows["raw.accounts"] == 60  # 01:00 .. 01:59
    with connect(duckdb_warehouse) as conn:
        ids = [r[0] for r in conn.execute("select id from raw.accounts order by id")]
    assert ids == list(range(60, 120))
    after = run(step, duckdb_warehouse)
    assert after.rows["raw.accounts"] == 500, "the window moved the cursor"
    with ShopServer(seed=1) as shop, pytest.raises(ConfigError, match="cannot bound it"):
        ShopApiStep(shop.url, endpoints=("orders",)).run(
            RunRequest(stack="t", window=window), duckdb_warehouse
        )


def test_sql_database_never_connects_to_build_its_manifest() -> None:
    step = SqlDatabaseStep("postgresql://u:pw@127.0.0.1:1/nowhere", ["a", "b"])
    assert step.produces() == (TableRef("raw", "a"), TableRef("raw", "b"))


# --- files landing in a folder (dlt filesystem) -------------------------------------------------


def _touch_later(path: Path, seconds: float = 2.0) -> None:
    # a new modification date even on filesystems with coarse timestamps
    st = path.stat()
    os.utime(path, (st.st_atime + seconds, st.st_mtime + seconds))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_files_load_only_new_files(fmt: str, warehouse: Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()

    def write(name: str, rows: list[dict]) -> Path:
        path = landing / f"{name}.{fmt}"
        if fmt == "csv":
            head = ",".join(rows[0])
            path.write_text(head + "\n" + "\n".join(",".join(map(str, r.values())) for r in rows))
        elif fmt == "jsonl":
            path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        else:
            pq.write_table(pa.Table.from_pylist(rows), path)
        return path

    write("day1", [{"id": i, "qty": i} for i in range(1, 4)])
    step = FilesStep(landing, table="deliveries", pattern=f"*.{fmt}", primary_key="id")
    assert step.produces() == (TableRef("raw", "deliveries"),)
    assert run(step, warehouse).rows == {"raw.deliveries": 3}
    assert run(step, warehouse).total_rows == 0  # no new file
    time.sleep(0.01)
    day2 = write("day2", [{"id": 3, "qty": 30}, {"id": 4, "qty": 4}])
    _touch_later(day2)
    assert run(step, warehouse).rows == {"raw.deliveries": 2}
    with connect(warehouse) as conn:
        assert conn.execute("select id, qty from raw.deliveries order by id") == [
            (1, 1),
            (2, 2),
            (3, 30),
            (4, 4),
        ]


def test_sql_database_applies_hard_deletes_only_when_asked(app_db, warehouse: Warehouse) -> None:
    default = SqlDatabaseStep(app_db, ["accounts"], name="app_default", dataset="kept")
    deleting = SqlDatabaseStep(app_db, ["accounts"], delete_missing=True)
    run(default, warehouse)
    run(deleting, warehouse)
    with connect(app_db) as conn:
        conn.execute("delete from accounts where id in (3, 4, 250)")
    said: list[str] = []
    assert run(default, warehouse).total_rows == 0
    result = deleting.run(RunRequest(stack="t"), warehouse, lambda s, m: said.append(m))
    assert result.total_rows == 0
    assert "deleted 3 rows from raw.accounts whose key is gone from the source" in said
    with connect(warehouse) as conn:
        assert conn.count("raw", "accounts") == 497
        assert conn.execute("select count(*) from raw.accounts where id in (3, 4, 250)") == [(0,)]
        assert conn.count("kept", "accounts") == 500  # by default deletes are not propagated
