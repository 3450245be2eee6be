"""The contract's tiny SQL wrapper: one placeholder style on both engines."""

from __future__ import annotations

import pytest
from stacks_contract.errors import WarehouseUnreachable
from stacks_contract.warehouse import parse_warehouse
from stacks_core.sql import connect


def test_question_marks_inside_quotes_are_data(warehouse) -> None:
    with connect(warehouse) as conn:
        row = conn.execute("select ?, '?', 'it''s ?', '100%', ? || '%?'", [1, "x"])[0]
        assert row == (1, "?", "it's ?", "100%", "x%?")


def test_executemany_and_helpers(warehouse) -> None:
    with connect(warehouse) as conn:
        conn.execute("create schema raw")
        conn.execute('create table raw."odd?name" (id integer, note varchar)')
        conn.executemany('insert into raw."odd?name" values (?, ?)', [(1, "a?"), (2, "50%")])
        assert conn.count("raw", "odd?name") == 2
        assert conn.columns("raw", "odd?name") == ["id", "note"]
        assert conn.tables("raw") == [("raw", "odd?name")]
        assert conn.table_exists("raw", "odd?name") and not conn.table_exists("raw", "nope")
        assert "raw" in conn.schemas()
        got = conn.execute('select note from raw."odd?name" where id = ?', [2])
        assert got == [("50%",)]


def test_libpq_parameters_of_the_url_reach_the_connection(postgres_warehouse) -> None:
    """What a user puts in the URL is what the ledger's connection uses; times stay UTC."""
    url = postgres_warehouse.url() + (
        "?application_name=stacks-ledger&sslmode=disable&options=-c%20work_mem%3D7MB"
    )
    wh = parse_warehouse(url)
    with connect(wh) as conn:
        got = conn.execute(
            "select current_setting('application_name'), current_setting('work_mem'), "
            "current_setting('TimeZone')"
        )[0]
    assert got == ("stacks-ledger", "7MB", "UTC")
    refused = parse_warehouse(postgres_warehouse.url() + "?sslmode=require")
    with pytest.raises(WarehouseUnreachable, match="SSL"):  # the local server has no SSL
        connect(refused)
