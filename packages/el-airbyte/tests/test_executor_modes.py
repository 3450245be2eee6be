"""The local engine's executor: the demo shop through airbyte-cdk into Airbyte's destination
layout, in every sync mode, on DuckDB and Postgres (the ``warehouse`` fixture)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect
from stacks_el_airbyte.local.executor import CdkExecutor
from stacks_el_airbyte.local.model import AIRBYTE_COLUMNS, JobContext

STREAMS = ("customers", "products", "orders", "payments")


def sync(connection: Any, job_id: int, job_type: str = "sync") -> Any:
    return CdkExecutor().run(connection, JobContext(job_id, job_type))  # type: ignore[arg-type]


def rows(wh: Warehouse, table: str, where: str = "") -> list[tuple[Any, ...]]:
    with connect(wh) as c:
        return c.execute(f"select * from raw.{table} {where}")


def count(wh: Warehouse, table: str, where: str = "") -> int:
    with connect(wh) as c:
        return int(c.execute(f"select count(*) from raw.{table} {where}")[0][0])


def meta(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def written_by(wh: Warehouse, table: str, job_id: int) -> int:
    """Rows whose ``_airbyte_meta.sync_id`` is the job's (what the step reports)."""
    with connect(wh) as c:
        metas = c.execute(f"select _airbyte_meta from raw.{table}")
    return sum(1 for (m,) in metas if meta(m)["sync_id"] == job_id)


def business(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    """The table without Airbyte's columns, sorted: what two equal loads share."""
    with connect(wh) as c:
        cols = [n for n in c.columns("raw", table) if n not in AIRBYTE_COLUMNS]
        listed = ", ".join(f'"{n}"' for n in cols)
        return c.execute(f"select {listed} from raw.{table} order by id")


def test_first_sync_reads_everything_the_second_only_changes(shop, warehouse, connect_shop):
    conn = connect_shop("incremental_deduped_history")
    first = sync(conn, 1)
    counts = shop.counts()
    assert first.streams == counts
    assert first.records_synced == sum(counts.values()) and first.bytes_synced > 0
    with connect(warehouse) as c:
        cols = c.columns("raw", "orders")
    assert cols == [
        "id",
        "customer_id",
        "status",
        "amount",
        "currency",
        "created_at",
        "updated_at",
        "items",
        *AIRBYTE_COLUMNS,
    ]
    for name in STREAMS:
        assert count(warehouse, name) == counts[name]
        assert written_by(warehouse, name, 1) == counts[name]
    order = shop.state.tables["orders"][1]
    (stored,) = business(warehouse, "orders")[:1]
    items = stored[7] if isinstance(stored[7], list) else json.loads(stored[7])
    assert items == order["items"] and stored[0] == 1
    assert stored[3] == Decimal(str(order["amount"])), "amount is not an exact decimal"

    shop.advance()
    second = sync(conn, 2)
    grown = shop.counts()
    assert 0 < second.records_synced < sum(counts.values())
    for name in STREAMS:
        assert count(warehouse, name) == grown[name]  # changed rows updated, not duplicated
    changed = [o for o in shop.state.tables["orders"].values() if o["updated_at"] > "2024-01-01T00"]
    ids = {o["id"] for o in changed}
    with connect(warehouse) as c:
        got = dict(c.execute("select id, status from raw.orders"))
    assert all(got[o["id"]] == o["status"] for o in changed) and ids


def test_three_syncs_equal_one_and_a_no_op_writes_nothing(
    shop, warehouse, warehouse_factory, connect_shop
):
    once = warehouse_factory()
    sync(connect_shop(to=once), 1)
    conn = connect_shop()
    for job in (1, 2, 3):
        sync(conn, job)
    for name in STREAMS:
        assert business(warehouse, name) == business(once, name)
        assert written_by(warehouse, name, 2) == 0  # nothing changed: nothing written
        assert written_by(warehouse, name, 3) == 0


def test_full_refresh_overwrite_replaces_the_table(shop, warehouse, connect_shop):
    conn = connect_shop("full_refresh_overwrite")
    sync(conn, 1)
    shop.advance()
    out = sync(conn, 2)
    counts = shop.counts()
    assert out.streams == counts
    for name in STREAMS:
        assert count(warehouse, name) == counts[name]
        assert written_by(warehouse, name, 2) == counts[name]
    with connect(warehouse) as c:  # the table written before the swap is gone
        assert not [t for _, t in c.tables("raw") if t.endswith("_airbyte_tmp")]


def test_full_refresh_append_appends_everything_again(shop, warehouse, connect_shop):
    conn = connect_shop("full_refresh_append")
    sync(conn, 1)
    sync(conn, 2)
    for name, n in shop.counts().items():
        assert count(warehouse, name) == 2 * n
        assert written_by(warehouse, name, 2) == n


def test_incremental_append_appends_what_was_read(shop, warehouse, connect_shop):
    conn = connect_shop("incremental_append")
    sync(conn, 1)
    before = {name: count(warehouse, name) for name in STREAMS}
    shop.advance()
    out = sync(conn, 2)
    for name in STREAMS:
        assert 0 < out.streams[name] < before[name]
        assert count(warehouse, name) == before[name] + out.streams[name]


def test_refresh_bumps_the_generation_and_clear_empties(shop, warehouse, connect_shop):
    conn = connect_shop()
    sync(conn, 1)
    counts = shop.counts()
    refreshed = sync(conn, 2, "refresh")
    assert refreshed.streams == counts  # state dropped: everything read again
    with connect(warehouse) as c:
        gens = c.execute("select distinct _airbyte_generation_id from raw.orders")
    assert gens == [(1,)] and count(warehouse, "orders") == counts["orders"]

    cleared = sync(conn, 3, "clear")
    assert cleared.records_synced == 0
    assert all(count(warehouse, name) == 0 for name in STREAMS)
    again = sync(conn, 4)
    assert again.streams == counts
    with connect(warehouse) as c:
        assert c.execute("select distinct _airbyte_generation_id from raw.orders") == [(2,)]


def test_a_value_that_does_not_fit_the_schema_is_nulled_and_recorded(shop, warehouse, connect_shop):
    shop.state.tables["orders"][3]["customer_id"] = "not-a-number"
    sync(connect_shop(), 1)
    with connect(warehouse) as c:
        ((customer, m),) = c.execute(
            "select customer_id, _airbyte_meta from raw.orders where id = 3"
        )
        others = c.execute("select _airbyte_meta from raw.orders where id <> 3")
    assert customer is None
    assert meta(m) == {
        "sync_id": 1,
        "changes": [
            {
                "field": "customer_id",
                "change": "NULLED",
                "reason": "DESTINATION_SERIALIZATION_ERROR",
            }
        ],
    }
    assert all(meta(o)["changes"] == [] for (o,) in others)


def test_numbers_are_decimal_38_9_as_in_airbytes_destinations(shop, warehouse, connect_shop):
    """Airbyte's SQL destinations type a ``number`` as DECIMAL(38, 9): exact amounts; a value
    with more than 29 digits before the point is nulled and recorded, the sync goes on."""
    shop.state.tables["orders"][3]["amount"] = 1e30
    sync(connect_shop(), 1)
    with connect(warehouse) as c:
        ((kind, precision, scale),) = c.execute(
            "select data_type, numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'orders' and column_name = 'amount'"
        )
        ((amount, m),) = c.execute("select amount, _airbyte_meta from raw.orders where id = 3")
    assert (kind.lower().split("(")[0], precision, scale) in {
        ("numeric", 38, 9),
        ("decimal", 38, 9),
    }
    assert amount is None
    assert meta(m)["changes"] == [
        {"field": "amount", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
    ]
