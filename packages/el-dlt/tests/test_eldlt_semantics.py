"""Loading semantics of DltStep on real Postgres and DuckDB: what a user sees in the tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dlt
from stacks_contract import RunRequest, TableRef
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.sql import connect
from stacks_el_dlt import DltStep

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns

STACK = "t"


def run(step: DltStep, wh: Warehouse, run_id: str | None = None):
    req = RunRequest(stack=STACK) if run_id is None else RunRequest(stack=STACK, run_id=run_id)
    return step.run(req, wh)


def rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with connect(wh) as conn:
        return conn.execute(sql)


def count(wh: Warehouse, table: str) -> int:
    with connect(wh) as conn:
        return conn.count("raw", table)


class Source:
    """Rows held by the test; each factory call yields the current rows (a fresh resource)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def factory(self, **hints: Any) -> Callable[[], Any]:
        def make() -> Any:
            snapshot = [dict(r) for r in self.rows]

            @dlt.resource(name="orders", **hints)
            def orders(
                updated_at=dlt.sources.incremental("updated_at", initial_value=0),  # noqa: B008
            ):
                yield [r for r in snapshot if r["updated_at"] >= (updated_at.last_value or 0)]

            return orders()

        return make


def order(i: int, updated_at: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": i,
        "status": "placed",
        "amount": float(i),
        "updated_at": updated_at,
        "items": [{"line": 1, "sku": f"s{i}"}, {"line": 2, "sku": "x"}],
        **extra,
    }


def test_merge_updates_rows_and_child_rows_without_duplicates(warehouse: Warehouse) -> None:
    src = Source([order(i) for i in range(1, 6)])
    step = DltStep("shop", src.factory(primary_key="id", write_disposition="merge"))
    first = run(step, warehouse)
    assert first.rows == {"raw.orders": 5, "raw.orders__items": 10}
    src.rows[2] = order(3, updated_at=2, status="paid")
    src.rows[2]["items"] = [{"line": 1, "sku": "changed"}]
    second = run(step, warehouse)
    assert second.rows == {"raw.orders": 1, "raw.orders__items": 1}
    assert count(warehouse, "orders") == 5
    assert rows(warehouse, "select status from raw.orders where id = 3") == [("paid",)]
    # the child rows of the updated order were replaced, not added to
    assert count(warehouse, "orders__items") == 9
    assert rows(
        warehouse,
        "select i.sku from raw.orders__items i join raw.orders o on i._dlt_parent_id = o._dlt_id "
        "where o.id = 3",
    ) == [("changed",)]


def test_incremental_second_run_loads_zero_rows_and_leaves_data_alone(
    warehouse: Warehouse,
) -> None:
    src = Source([order(i) for i in range(1, 4)])
    step = DltStep("shop", src.factory(primary_key="id", write_disposition="merge"))
    run(step, warehouse)
    before = fingerprint(warehouse, metadata=META)
    again = run(step, warehouse, run_id="second-run")
    assert again.rows == {} and again.total_rows == 0
    assert fingerprint(warehouse, metadata=META) == before
    stamped = rows(warehouse, "select count(*) from raw.orders where _stacks_run_id = 'second-run'")
    assert stamped == [(0,)]
    # the no-op run discarded its empty package; the cursor still holds: new rows load, only those
    src.rows.append(order(4, updated_at=2))
    assert run(step, warehouse).rows["raw.orders"] == 1
    assert count(warehouse, "orders") == 4


def test_late_arriving_rows_are_merged_not_duplicated(warehouse: Warehouse) -> None:
    src = Source([order(i, updated_at=10) for i in range(1, 4)])
    step = DltStep("shop", src.factory(primary_key="id", write_disposition="merge"))
    run(step, warehouse)
    # a row that arrives late carries an older cursor than what was loaded: dlt's incremental
    # skips it unless the source re-sends it with a newer cursor, which is when it must merge
    src.rows.append(order(4, updated_at=5))
    assert run(step, warehouse).rows == {}
    src.rows[-1] = order(4, updated_at=11)
    src.rows.append(order(1, updated_at=11, status="refunded"))  # an update arriving late too
    assert run(step, warehouse).rows["raw.orders"] == 2
    assert count(warehouse, "orders") == 4
    assert rows(warehouse, "select status from raw.orders where id = 1") == [("refunded",)]


def test_append_keeps_every_event(warehouse: Warehouse) -> None:
    src = Source([order(i, updated_at=i) for i in range(1, 4)])
    step = DltStep("events", src.factory(write_disposition="append"))
    run(step, warehouse)
    src.rows.append(order(4, updated_at=4))
    result = run(step, warehouse)
    # the boundary row (updated_at=3) was seen already: dlt's incremental drops it
    assert result.rows["raw.orders"] == 1
    assert count(warehouse, "orders") == 4


def test_replace_swaps_the_snapshot(warehouse: Warehouse) -> None:
    data = {"rows": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}

    def factory() -> Any:
        rows_now = [dict(r) for r in data["rows"]]
        return dlt.resource(rows_now, name="stock", write_disposition="replace")

    step = DltStep("stock", factory)
    run(step, warehouse)
    data["rows"] = [{"sku": "c", "qty": 3}]
    result = run(step, warehouse)
    assert result.rows == {"raw.stock": 1}
    assert rows(warehouse, "select sku, qty from raw.stock") == [("c", 3)]
    # an empty snapshot is a snapshot too: the table is emptied, not left as it was
    data["rows"] = []
    run(step, warehouse)
    assert count(warehouse, "stock") == 0


def test_scd2_keeps_history(warehouse: Warehouse) -> None:
    data = {"rows": [{"id": 1, "tier": "free"}, {"id": 2, "tier": "pro"}]}

    def factory() -> Any:
        snapshot = [dict(r) for r in data["rows"]]
        return dlt.resource(
            snapshot, name="plans", write_disposition={"disposition": "merge", "strategy": "scd2"}
        )

    step = DltStep("plans", factory)
    run(step, warehouse)
    data["rows"] = [{"id": 1, "tier": "pro"}, {"id": 2, "tier": "pro"}]
    run(step, warehouse)
    history = rows(
        warehouse,
        "select id, tier, _dlt_valid_to is null from raw.plans order by id, _dlt_valid_from",
    )
    assert history == [(1, "free", False), (1, "pro", True), (2, "pro", True)]
    # unchanged source: no new versions
    before = fingerprint(warehouse, metadata=META)
    run(step, warehouse)
    assert fingerprint(warehouse, metadata=META) == before


def test_compound_primary_key(warehouse: Warehouse) -> None:
    data = {
        "rows": [
            {"order_id": 1, "line": 1, "qty": 1, "updated_at": 1},
            {"order_id": 1, "line": 2, "qty": 1, "updated_at": 1},
            {"order_id": 2, "line": 1, "qty": 1, "updated_at": 1},
        ]
    }

    def factory() -> Any:
        snapshot = [dict(r) for r in data["rows"]]
        return dlt.resource(
            snapshot, name="lines", primary_key=["order_id", "line"], write_disposition="merge"
        )

    step = DltStep("lines", factory)
    run(step, warehouse)
    data["rows"][1]["qty"] = 5
    run(step, warehouse)
    assert rows(warehouse, "select order_id, line, qty from raw.lines order by 1, 2") == [
        (1, 1, 1),
        (1, 2, 5),
        (2, 1, 1),
    ]


def test_schema_drift_new_column_evolves_the_table(warehouse: Warehouse) -> None:
    src = Source([order(i) for i in range(1, 3)])
    step = DltStep("shop", src.factory(primary_key="id", write_disposition="merge"))
    run(step, warehouse)
    src.rows.append(order(3, updated_at=2, coupon="SPRING"))
    result = run(step, warehouse)
    assert result.rows["raw.orders"] == 1 and result.quarantined == {}
    assert rows(warehouse, "select id, coupon from raw.orders order by id") == [
        (1, None),
        (2, None),
        (3, "SPRING"),
    ]


def test_every_row_and_child_row_carries_run_id_and_load_time(warehouse: Warehouse) -> None:
    src = Source([order(i) for i in range(1, 4)])
    step = DltStep("shop", src.factory(primary_key="id", write_disposition="merge"))
    result = run(step, warehouse, run_id="run-42")
    for table in ("orders", "orders__items"):
        got = rows(
            warehouse,
            f"select _stacks_run_id, count(*), count(_stacks_loaded_at) from raw.{table} "
            "group by 1",
        )
        n = result.rows[f"raw.{table}"]
        assert got == [("run-42", n, n)]


def test_row_counts_are_exact_on_every_file_format(warehouse: Warehouse) -> None:
    # dlt's own count on the CSV path is rows x columns; the result must count rows
    extra = "csv" if warehouse.kind == "postgres" else "jsonl"
    formats = ["parquet", "insert_values", extra]
    for fmt in formats:
        src = Source([order(i) for i in range(1, 8)])
        step = DltStep(f"shop_{fmt}", src.factory(primary_key="id"), file_format=fmt, dataset="raw")
        step.pipeline_name = f"fmt_{fmt}"
        src_rows = {"raw.orders": 7, "raw.orders__items": 14}
        result = run(step, warehouse)
        assert result.rows == src_rows, fmt
        with connect(warehouse) as conn:
            conn.execute("drop table raw.orders__items")
            conn.execute("drop table raw.orders")
            conn.execute("delete from raw._dlt_pipeline_state")
            conn.execute("delete from raw._dlt_version")


def test_produces_names_child_tables_without_touching_source_or_warehouse() -> None:
    calls = {"n": 0}

    def factory() -> Any:
        @dlt.resource(name="orders", primary_key="id", nested_hints={"items": {}})
        def orders():
            calls["n"] += 1
            yield []

        return orders()

    step = DltStep("shop", factory, dataset="landing")
    assert step.produces() == (
        TableRef("landing", "orders"),
        TableRef("landing", "orders__items"),
    )
    assert step.table_resources() == {
        TableRef("landing", "orders"): "orders",
        TableRef("landing", "orders__items"): "orders",
    }
    assert calls["n"] == 0  # the resource was never iterated


def test_two_warehouses_never_share_cursor_state(postgres_warehouse, duckdb_warehouse) -> None:
    src = Source([order(i) for i in range(1, 4)])
    step = DltStep("shop", src.factory(primary_key="id"))
    assert run(step, duckdb_warehouse).rows["raw.orders"] == 3
    # same step, another warehouse: its cursor starts fresh, so the rows load there too
    assert run(step, postgres_warehouse).rows["raw.orders"] == 3


def test_dropped_dataset_is_reloaded_not_skipped(duckdb_warehouse) -> None:
    src = Source([order(i) for i in range(1, 4)])
    step = DltStep("shop", src.factory(primary_key="id"))
    run(step, duckdb_warehouse)
    with connect(duckdb_warehouse) as conn:
        conn.execute("drop schema raw cascade")
    # the local cursor says "done", but the data is gone: dlt wipes the stale local state
    assert run(step, duckdb_warehouse).rows["raw.orders"] == 3
