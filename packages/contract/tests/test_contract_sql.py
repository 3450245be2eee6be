"""The contract's tiny SQL wrapper: one placeholder style on both engines."""

from __future__ import annotations

from stacks_contract.sql import connect


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
