"""Fingerprints on real Postgres and DuckDB: equal data equal, any row-level change different."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from stacks_contract.models import RunRecord, RunStatus, TableRef, TriggerKind
from stacks_core.fingerprint import diff, fingerprint, is_metadata
from stacks_core.ledger import Ledger
from stacks_core.sql import connect

ROWS = [
    (1, "ada", 10.5, True, datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
    (2, "bob", None, False, datetime(2024, 1, 2, tzinfo=UTC)),
    (3, None, 0.0, None, None),
    (4, "NULL", -1.25, True, datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)),
    (5, "a, 'b': c", 3.0, False, datetime(2024, 1, 1, tzinfo=UTC)),
]
CREATE = (
    "create table {t} (id integer, name varchar, amount double precision, active boolean, "
    "updated_at timestamptz, _dlt_load_id varchar, _dlt_id varchar, _stacks_run_id varchar, "
    "_stacks_loaded_at timestamptz, _airbyte_raw_id varchar, dbt_updated_at timestamptz)"
)


def _load(wh, rows, *, table="items", schema="raw", meta="run-1") -> None:
    with connect(wh) as conn:
        conn.execute(f"create schema if not exists {schema}")
        conn.execute(f"drop table if exists {schema}.{table}")
        conn.execute(CREATE.format(t=f"{schema}.{table}"))
        conn.executemany(
            f"insert into {schema}.{table} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (*r, f"load-{meta}", f"id-{meta}-{i}", meta, datetime.now(UTC), meta, None)
                for i, r in enumerate(rows)
            ],
        )


#: what the tools behind these columns would declare (el-dlt, el-airbyte, dbt snapshots)
META = ("_dlt_*", "_airbyte_*", "dbt_updated_at")


def _fp(wh, table="items"):
    return fingerprint(wh, [TableRef("raw", table)], metadata=META)[f"raw.{table}"]


def test_equal_data_equal_fingerprint_regardless_of_order_and_metadata(warehouse) -> None:
    _load(warehouse, ROWS, table="a", meta="run-1")
    shuffled = ROWS[:]
    random.Random(7).shuffle(shuffled)
    _load(warehouse, list(reversed(ROWS)), table="b", meta="run-2")
    _load(warehouse, shuffled, table="c", meta="run-3")
    a, b, c = _fp(warehouse, "a"), _fp(warehouse, "b"), _fp(warehouse, "c")
    assert a == b == c
    assert a.rows == 5
    assert a.columns == ("active", "amount", "id", "name", "updated_at")


@pytest.mark.parametrize(
    ("case", "rows"),
    [
        ("changed value", [ROWS[0], (2, "bobby", None, False, ROWS[1][4]), *ROWS[2:]]),
        ("changed null", [ROWS[0], (2, "bob", 0.0, False, ROWS[1][4]), *ROWS[2:]]),
        ("string 'NULL' vs NULL", [*ROWS[:3], (4, None, -1.25, True, ROWS[3][4]), ROWS[4]]),
        ("changed timestamp", [(*ROWS[0][:4], datetime(2024, 1, 1, 12, 1, tzinfo=UTC)), *ROWS[1:]]),
        ("duplicated row", [*ROWS, ROWS[2]]),
        ("missing row", ROWS[:-1]),
        ("swapped values", [(1, "bob", *ROWS[0][2:]), (2, "ada", *ROWS[1][2:]), *ROWS[2:]]),
    ],
)
def test_any_row_level_change_changes_the_fingerprint(warehouse, case: str, rows) -> None:
    _load(warehouse, ROWS, table="base")
    _load(warehouse, rows, table="other")
    base, other = _fp(warehouse, "base"), _fp(warehouse, "other")
    assert base != other, case
    line = diff({"raw.t": base}, {"raw.t": other})
    assert len(line) == 1 and line[0].startswith("raw.t: ")


def test_duplicate_and_missing_row_with_equal_count_still_differ(warehouse) -> None:
    # a duplicated row and a missing one cancel in count(*): only the digest can tell
    _load(warehouse, ROWS, table="base")
    _load(warehouse, [*ROWS[:-1], ROWS[0]], table="other")
    base, other = _fp(warehouse, "base"), _fp(warehouse, "other")
    assert base.rows == other.rows
    assert base.digest != other.digest
    assert diff({"raw.t": base}, {"raw.t": other}) == ["raw.t: same 5 rows, different content"]


def test_metadata_columns_and_tables_are_ignored(warehouse) -> None:
    _load(warehouse, ROWS, meta="run-1")
    before = fingerprint(warehouse, metadata=META)
    _load(warehouse, ROWS, meta="run-2")  # same data, every metadata column different
    with connect(warehouse) as conn:  # bookkeeping that must not count as data
        conn.execute("create table raw._dlt_loads (load_id varchar)")
        conn.execute("insert into raw._dlt_loads values ('x')")
    Ledger(warehouse).record(
        RunRecord(
            run_id="r1",
            stack="s",
            orchestrator="o",
            trigger=TriggerKind.MANUAL,
            status=RunStatus.SUCCEEDED,
            started_at=datetime.now(UTC),
        )
    )
    after = fingerprint(warehouse, metadata=META)
    assert list(after) == ["raw.items"]
    assert diff(before, after) == []


def test_only_declared_metadata_is_ignored(warehouse) -> None:
    # nothing declared: only the contract's own _stacks_* columns are metadata, so a tool's
    # columns (and a business column that merely looks like one) count as data
    _load(warehouse, ROWS, meta="run-1")
    undeclared = fingerprint(warehouse, [TableRef("raw", "items")])["raw.items"]
    assert "_dlt_id" in undeclared.columns and "dbt_updated_at" in undeclared.columns
    assert "_stacks_run_id" not in undeclared.columns
    declared = _fp(warehouse)
    assert declared.columns == ("active", "amount", "id", "name", "updated_at")


def test_is_metadata() -> None:
    for name in ("_dlt_id", "_DLT_LOAD_ID", "_airbyte_extracted_at", "dbt_updated_at"):
        assert is_metadata(name, META), name
    assert is_metadata("_stacks_run_id") and is_metadata("_stacks_quarantine")
    for name in ("id", "dlt_thing", "stacks", "updated_at", "_id", "dbt_x", "_ab_cdc"):
        assert not is_metadata(name, META), name


def test_fingerprint_all_tables_by_schema(warehouse) -> None:
    _load(warehouse, ROWS, table="x", schema="raw")
    _load(warehouse, ROWS[:2], table="y", schema="analytics")
    every = fingerprint(warehouse)
    assert set(every) == {"raw.x", "analytics.y"}
    assert set(fingerprint(warehouse, schemas=["analytics"])) == {"analytics.y"}
    assert every["analytics.y"].rows == 2


def test_views_and_empty_and_metadata_only_tables(warehouse) -> None:
    _load(warehouse, ROWS)
    with connect(warehouse) as conn:
        conn.execute("create view raw.v as select id, name from raw.items where id < 3")
        conn.execute("create table raw.empty (id integer)")
        conn.execute("create table raw.only_meta (_dlt_id varchar)")
        conn.execute("insert into raw.only_meta values ('a'), ('b')")
    fp = fingerprint(warehouse, metadata=META)
    assert fp["raw.v"].rows == 2
    assert fp["raw.empty"].rows == 0
    assert fp["raw.only_meta"] == fp["raw.only_meta"].model_copy(
        update={"rows": 2, "digest": "rows:2", "columns": ()}
    )


def test_renamed_column_differs(warehouse) -> None:
    with connect(warehouse) as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.a (x integer, y integer)")
        conn.execute("create table raw.b (x integer, z integer)")
        conn.execute("insert into raw.a values (1, 2)")
        conn.execute("insert into raw.b values (1, 2)")
    fp = fingerprint(warehouse)
    assert diff({"t": fp["raw.a"]}, {"t": fp["raw.b"]}) == [
        "t: columns changed ['x', 'y'] -> ['x', 'z']"
    ]


def test_diff_reports_new_and_dropped_tables() -> None:
    from stacks_core.fingerprint import TableFingerprint

    a = TableFingerprint(rows=3, digest="d", columns=("id",))
    assert diff({}, {"raw.t": a}) == ["raw.t: new table (3 rows)"]
    assert diff({"raw.t": a}, {}) == ["raw.t: table disappeared (had 3 rows)"]
    assert diff({"raw.t": a}, {"raw.t": a.model_copy(update={"rows": 4})}) == [
        "raw.t: 3 rows -> 4 rows"
    ]
    assert diff({"raw.t": a}, {"raw.t": a}) == []


def test_large_table_fingerprint_is_stable(warehouse) -> None:
    with connect(warehouse) as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.big (id integer, v varchar)")
        conn.execute(
            "insert into raw.big select g, 'v' || cast(g as varchar) "
            "from generate_series(0, 4999) as t(g)"
        )
    one = _fp(warehouse, "big")
    assert one == _fp(warehouse, "big")
    assert one.rows == 5000


def test_awkward_column_names(warehouse) -> None:
    with connect(warehouse) as conn:
        conn.execute("create schema raw")
        for t in ("a", "b"):
            conn.execute(
                f'create table raw.{t} ("it\'s" integer, "Mixed Case" varchar, "x""y" integer)'
            )
        conn.execute("insert into raw.a values (1, 'p', 2)")
        conn.execute("insert into raw.b values (1, 'q', 2)")
    fp = fingerprint(warehouse)
    assert fp["raw.a"].columns == ("Mixed Case", "it's", 'x"y')
    assert fp["raw.a"].rows == 1 and fp["raw.a"].digest != fp["raw.b"].digest


def test_portable_fingerprint_is_equal_across_engines(duckdb_warehouse, postgres_warehouse) -> None:
    """The same rows typed the way each engine types them (numeric scale, timestamptz, JSON)
    fingerprint alike; one changed value differs."""
    from stacks_core.fingerprint import portable_fingerprint

    ref = TableRef("marts", "t")
    rows = [
        (1, "10.50", "2024-01-02 03:04:05+00", '{"b": 1, "a": [1, 2]}', None),
        (2, "7", "2024-01-02 05:04:05+02", "[]", "x"),
    ]
    for wh, json_type in ((duckdb_warehouse, "json"), (postgres_warehouse, "jsonb")):
        with connect(wh) as conn:
            conn.execute("create schema if not exists marts")
            conn.execute(
                f"create table marts.t (id bigint, amount decimal(12, 2), seen timestamptz, "
                f"doc {json_type}, note varchar, _stacks_run_id varchar)"
            )
            for r in rows:
                conn.execute(
                    f"insert into marts.t values (?, ?, ?, cast(? as {json_type}), ?, ?)",
                    [*r, str(wh.kind)],
                )
    duck = portable_fingerprint(duckdb_warehouse, [ref])
    pg = portable_fingerprint(postgres_warehouse, [ref])
    assert duck == pg and duck[ref.key].rows == 2
    assert fingerprint(duckdb_warehouse, [ref]) != fingerprint(postgres_warehouse, [ref])
    with connect(postgres_warehouse) as conn:
        conn.execute("update marts.t set amount = 10.51 where id = 1")
    assert portable_fingerprint(postgres_warehouse, [ref]) != duck
