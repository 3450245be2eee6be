"""Bad rows never block good rows: each value that cannot be loaded is set aside, named.

Every case here failed the whole step before (issue 15): the good rows of the same table and the
step's other tables must load, the bad value lands in ``_stacks_quarantine`` with its table,
column, reason and payload, and a re-run adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from stacks_contract import RunRequest
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect
from stacks_el_dlt import QUARANTINE_TABLE, DltStep, FilesStep


def run(step: DltStep, wh: Warehouse):
    return step.run(RunRequest(stack="t"), wh)


def query(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with connect(wh) as conn:
        return conn.execute(sql)


def quarantine(wh: Warehouse) -> list[tuple[Any, ...]]:
    return query(
        wh,
        f"select table_name, column_name, reason, payload from raw.{QUARANTINE_TABLE} "
        "order by table_name, payload",
    )


def other() -> Any:
    return dlt.resource([{"k": 1}, {"k": 2}], name="other", primary_key="k")


def test_arrow_type_change_quarantines_the_value_not_the_step(warehouse: Warehouse) -> None:
    # a pyarrow source (as sql_database's pyarrow backend yields) whose column changes type
    state = {"table": pa.table({"id": [1, 2], "v": pa.array([1, 2], pa.int64())})}

    def factory() -> Any:
        items = dlt.resource(
            [state["table"]], name="items", primary_key="id", write_disposition="merge"
        )
        return [items, other()]

    step = DltStep("arrowy", factory)
    run(step, warehouse)
    state["table"] = pa.table({"id": [3, 4, 5], "v": pa.array(["7", "seven", None])})
    result = run(step, warehouse)
    assert result.rows == {"raw.items": 2, "raw.other": 2}
    assert result.quarantined == {"raw.items": 1}
    assert query(warehouse, "select id, v from raw.items order by id") == [
        (1, 1),
        (2, 2),
        (3, 7),
        (5, None),
    ]
    [(table, column, reason, payload)] = quarantine(warehouse)
    assert (table, column) == ("items", "v")
    assert "seven" in payload and "bigint" in reason
    run(step, warehouse)
    assert len(quarantine(warehouse)) == 1  # idempotent


def test_nul_byte_and_lone_surrogate_from_an_api(warehouse: Warehouse) -> None:
    rows = [
        {"id": 1, "name": "ok"},
        {"id": 2, "name": "nul\x00byte"},
        {"id": 3, "name": "lone \ud800 surrogate"},
        {"id": 4, "name": "fine too"},
    ]

    def factory() -> Any:
        api = dlt.resource([dict(r) for r in rows], name="people", primary_key="id")
        return [api, other()]

    step = DltStep("api", factory)
    result = run(step, warehouse)
    assert result.rows == {"raw.other": 2, "raw.people": 2}
    assert result.quarantined == {"raw.people": 2}
    assert query(warehouse, "select id, name from raw.people order by id") == [
        (1, "ok"),
        (4, "fine too"),
    ]
    got = quarantine(warehouse)
    assert {(t, c) for t, c, _, _ in got} == {("people", "name")}
    reasons = " ".join(r for _, _, r, _ in got)
    assert "NUL" in reasons and "surrogate" in reasons
    run(step, warehouse)
    assert len(quarantine(warehouse)) == 2


def test_nul_byte_in_a_nested_dict_row(warehouse: Warehouse) -> None:
    rows = [{"id": 1, "tags": ["a", "b\x00"]}, {"id": 2, "tags": ["c"]}]
    step = DltStep(
        "nested", lambda: dlt.resource([dict(r) for r in rows], name="n", primary_key="id")
    )
    result = run(step, warehouse)
    assert result.quarantined == {"raw.n": 1}
    assert query(warehouse, "select id from raw.n") == [(2,)]


def test_truncated_jsonl_line_is_quarantined_naming_the_file(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    land = tmp_path / "land"
    land.mkdir()
    (land / "a.jsonl").write_text('{"id": 1, "v": "x"}\n{"id": 2, "v": "y"}\n')
    (land / "b.jsonl").write_text('{"id": 3, "v": "z"}\n{"id": 4, "v": "tr\n{"id": 5, "v": "w"}\n')
    step = FilesStep(land, table="events", pattern="*.jsonl", primary_key="id")
    result = run(step, warehouse)
    assert result.rows == {"raw.events": 4}
    assert result.quarantined == {"raw.events": 1}
    assert query(warehouse, "select id from raw.events order by id") == [(1,), (2,), (3,), (5,)]
    [(table, column, reason, payload)] = quarantine(warehouse)
    assert table == "events" and column is None
    assert "b.jsonl" in reason and "line 2" in reason
    assert payload == '{"id": 4, "v": "tr'


def test_wrong_typed_primary_key_in_a_csv_file(tmp_path: Path, warehouse: Warehouse) -> None:
    land = tmp_path / "land"
    land.mkdir()
    (land / "a.csv").write_text("id,name\n1,a\n2,b\n")
    step = FilesStep(land, table="people", primary_key="id")
    run(step, warehouse)
    # "four" is no bigint; the last line has a field too many
    (land / "b.csv").write_text("id,name\n3,c\nfour,d\n5,e\n6,f,extra\n")
    result = run(step, warehouse)
    assert result.rows == {"raw.people": 2}
    assert result.quarantined == {"raw.people": 2}
    assert query(warehouse, "select id, name from raw.people order by id") == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (5, "e"),
    ]
    extra, four = quarantine(warehouse)
    assert extra[3] == "6,f,extra" and extra[1] is None
    assert "b.csv" in extra[2] and "3 fields" in extra[2]
    assert four[:2] == ("people", "id") and "four" in four[3]
    run(step, warehouse)
    assert len(quarantine(warehouse)) == 2
