"""Flat dict pages become Arrow tables; the warehouse must not be able to tell."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt
import pytest
from stacks_contract import RunRequest
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.sql import connect
from stacks_el_dlt import DltStep

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def batches() -> list[list[dict[str, Any]]]:
    """Loads into one table: flat pages, irregular pages (dict path), flat, then both in one."""
    flat = [
        {"id": i, "status": "placed", "amount": i * 1.5, "at": T0, "ok": True}
        for i in range(1, 301)
    ]
    irregular = [
        {"id": 5, "status": "paid", "amount": 2.0, "at": T0, "ok": False, "tags": ["a", "b"]},
        {"id": 400, "status": "new", "amount": 1.0, "at": T0},  # keys differ from the first row
        {"id": 401, "status": "new", "amount": 1, "at": T0, "ok": None},
    ]
    later = [
        {"id": i, "status": "shipped", "amount": 3.0, "at": T0, "ok": True} for i in range(250, 260)
    ]
    # one load whose first page converts and whose second page (nested values) does not
    mixed = [
        {"id": i, "status": "mixed", "amount": 1.0, "at": T0, "ok": True} for i in range(500, 600)
    ] + [
        {"id": i, "status": "mixed", "amount": 1.0, "at": T0, "ok": True, "tags": ["m"]}
        for i in range(600, 650)
    ]
    return [flat, irregular, later, mixed]


def step(load: dict[str, Any], arrow_batches: bool) -> DltStep:
    def factory() -> Any:
        pages = [
            [dict(r) for r in p[i : i + 100]] for p in [load["page"]] for i in range(0, len(p), 100)
        ]
        return dlt.resource(pages, name="orders", primary_key="id", write_disposition="merge")

    return DltStep("orders", factory, arrow_batches=arrow_batches)


def load_all(wh: Warehouse, arrow_batches: bool) -> list[dict[str, int]]:
    load: dict[str, Any] = {}
    counts = []
    for page in batches():
        load["page"] = page
        counts.append(step(load, arrow_batches).run(RunRequest(stack="t"), wh).rows)
    return counts


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_arrow_batches_load_what_the_dict_path_loads(engine: str, request) -> None:
    wh = request.getfixturevalue(f"{engine}_warehouse")
    fast = load_all(wh, arrow_batches=True)
    slow_wh = _other(engine, request)
    slow = load_all(slow_wh, arrow_batches=False)
    assert fast == slow
    assert fingerprint(wh, metadata=META) == fingerprint(slow_wh, metadata=META)
    with connect(wh) as conn:
        assert conn.count("raw", "orders") == 452
        # the nested lists took the dict path: a child table, as dlt makes it
        assert conn.count("raw", "orders__tags") == 52
        dups = conn.execute("select count(*) - count(distinct _dlt_id) from raw.orders")
        assert dups == [(0,)]
        nulls = conn.execute(
            "select count(*) from raw.orders where _dlt_load_id is null or _dlt_id is null "
            "or _stacks_run_id is null"
        )
        assert nulls == [(0,)]


def _other(engine: str, request) -> Warehouse:
    if engine == "duckdb":
        from stacks_contract.warehouse import DuckDBWarehouse

        return DuckDBWarehouse(path=request.getfixturevalue("tmp_path") / "dict-path.duckdb")
    server = request.getfixturevalue("postgres_server")
    return server.create_database(prefix="dictpath")


def test_iso_strings_and_mixed_numbers_keep_dlt_types(duckdb_warehouse: Warehouse) -> None:
    rows = [
        {"id": 1, "when": "2024-01-01T00:00:00Z", "qty": 1},
        {"id": 2, "when": "2024-01-02T00:00:00Z", "qty": 2.5},
    ]
    s = DltStep("x", lambda: dlt.resource([dict(r) for r in rows], name="x", primary_key="id"))
    s.run(RunRequest(stack="t"), duckdb_warehouse)
    with connect(duckdb_warehouse) as conn:
        types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'x'"
            )
        )
    # dlt's own inference: ISO strings are timestamps, the column is typed by its first value
    assert types["when"].startswith("TIMESTAMP")
    assert types["qty"] == "BIGINT"


def test_flat_pages_with_bad_rows_quarantine_what_the_dict_path_quarantines(
    duckdb_warehouse: Warehouse, tmp_path
) -> None:
    """A flat page converts to Arrow and is checked column by column; a page with a null key,
    or with a row whose keys differ at the same width, must end exactly as on the dict path."""
    from stacks_contract.warehouse import DuckDBWarehouse

    pages = [
        [{"id": i, "status": "ok", "amount": 1.0} for i in range(1, 51)],
        [{"id": i, "status": "ok", "amount": 2.0} for i in range(51, 60)]
        + [{"id": None, "status": "no key", "amount": 3.0}],
        [{"id": 70, "status": "ok", "amount": 4.0}, {"id": 71, "state": "renamed", "amount": 5.0}],
    ]

    def load(wh: Warehouse, arrow_batches: bool) -> tuple[Any, ...]:
        def factory() -> Any:
            return dlt.resource(
                [[dict(r) for r in p] for p in pages],
                name="orders",
                primary_key="id",
                write_disposition="merge",
            )

        result = DltStep("orders", factory, arrow_batches=arrow_batches).run(
            RunRequest(stack="t"), wh
        )
        return result.rows, result.quarantined

    slow_wh = DuckDBWarehouse(path=tmp_path / "dict-path.duckdb")
    fast = load(duckdb_warehouse, arrow_batches=True)
    assert fast == load(slow_wh, arrow_batches=False)
    assert fast == ({"raw.orders": 61}, {"raw.orders": 1})
    assert fingerprint(duckdb_warehouse, metadata=META) == fingerprint(slow_wh, metadata=META)
    with connect(duckdb_warehouse) as conn:
        assert conn.execute("select status, state from raw.orders where id = 71") == [
            (None, "renamed")
        ]
        reasons = conn.execute("select reason from raw._stacks_quarantine")
    assert len(reasons) == 1 and "'id'" in reasons[0][0]
