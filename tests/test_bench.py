"""The benchmark's own guarantees (bench/; timings are never asserted): its row checks tell a
correct copy, whatever column types a tool picked, from a wrong one, and ``--skip-peers`` leaves
the peers out and says so in the results."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from peers import sourcedb, verify  # noqa: E402

# the same rows a tool might write with other types: jsonb as text with its keys in another
# order, numeric as double, timestamptz without time zone (UTC)
RETYPED = """
create schema raw;
create table raw.orders as select id, customer_id, status, amount::float8 as amount,
    (select '{' || string_agg(format('"%s":%s', key, value), ',' order by key) || '}'
     from jsonb_each(attrs)) as attrs,
    (updated_at at time zone 'UTC') as updated_at, 'x' as _dlt_id from public.orders
"""


@pytest.fixture(scope="module")
def source(postgres_server) -> dict:
    wh = postgres_server.create_database("bench")
    with psycopg.connect(wh.url(), autocommit=True) as conn:
        sourcedb.keyed_table(conn, 300)
        columns = verify.source_columns(conn, "orders")
        want = verify.pg_fingerprint(conn, "public", "orders", columns)
        conn.execute(RETYPED)
    return {"url": wh.url(), "columns": columns, "want": want}


def test_a_copy_in_other_column_types_matches_the_source(source) -> None:
    with psycopg.connect(source["url"], autocommit=True) as conn:
        got = verify.pg_fingerprint(conn, "raw", "orders", source["columns"])
    assert got.rows == 300
    assert got.matches(source["want"])


def test_one_changed_value_or_a_missing_column_is_caught(source) -> None:
    with psycopg.connect(source["url"], autocommit=True) as conn:
        conn.execute("update raw.orders set amount = amount + 0.01 where id = 150")
        changed = verify.pg_fingerprint(conn, "raw", "orders", source["columns"])
        conn.execute("update raw.orders set amount = amount - 0.01 where id = 150")
        conn.execute("alter table raw.orders drop column status")
        missing = verify.pg_fingerprint(conn, "raw", "orders", source["columns"])
    assert changed.rows == 300 and not changed.matches(source["want"])
    assert missing.missing_columns == ("status",) and not missing.matches(source["want"])


def test_a_duckdb_copy_is_checked_the_same_way(source, tmp_path) -> None:
    with psycopg.connect(source["url"]) as conn:
        rows = conn.execute(
            "select id, customer_id, status, amount::text, attrs::text, updated_at "
            "from public.orders order by id"
        ).fetchall()
    with duckdb.connect(str(tmp_path / "copy.duckdb")) as con:
        con.execute(
            "create schema raw; create table raw.orders (id bigint, customer_id integer, status "
            "varchar, amount decimal(12,2), attrs json, updated_at timestamptz)"
        )
        con.executemany("insert into raw.orders values (?, ?, ?, ?, ?, ?)", rows)
        same = verify.duckdb_fingerprint(con, "raw", "orders", source["columns"])
        con.execute("delete from raw.orders where id = 7")
        short = verify.duckdb_fingerprint(con, "raw", "orders", source["columns"])
    assert same.matches(source["want"])
    assert short.rows == 299 and not short.matches(source["want"])


def test_skip_peers_leaves_the_peers_out_and_the_results_say_so() -> None:
    import harness
    import report
    import run

    args = run.parse_args(["--quick", "--skip-peers"])
    to_run, skipped = run.choose_cases(args)
    assert skipped == ["peers_pg", "peers_schema"]
    assert not set(skipped) & set(to_run)
    assert run.choose_cases(run.parse_args(["--quick"]))[1] == []

    b = harness.Bench(args)
    run.mark_skipped_peers(b, skipped)
    b.out.update(date="d", rows=1, repeat=1, seconds_total=0.0, machine={})
    md = report.render_md(report.flatten(b.out), b.notes, quick=True)
    assert "`el_sql_full_vs_sling`" in md
    assert "unavailable: skipped: --skip-peers" in md
    assert "The peers were skipped (--skip-peers)" in md


def test_the_quick_peers_fill_the_goal_keys_and_a_failed_peer_says_why() -> None:
    import harness
    import run
    from peers import record, series, tools

    b = harness.Bench(run.parse_args(["--quick"]))
    names = tools.tools_for("pg", quick=True)
    times = {"full": [harness.make_t(2.0, 1.0)], "noop": [harness.make_t(1.0, 0.5)]}
    times["incr"] = [harness.make_t(1.5, 0.8)]
    res = {t: series.Outcome(times=dict(times)) for t in names}
    res["copy"] = series.Outcome(problem="full run copied wrong: orders: checksum differs")
    record.record(b, "pg", 100, res)
    assert b.out["el_sql_full_vs_sling"] == 1.0 and b.out["el_sql_incr_vs_sling_cpu"] == 1.0
    assert b.out["el_sql_full_vs_copy_unavailable"] == (
        "copy: full run copied wrong: orders: checksum differs"
    )
