"""CSV files as users write them: empty fields are NULL, quoted empty fields are '', and a column
empty in every row of a new file loads, a column new to the table too (issue 28)."""

from __future__ import annotations

from pathlib import Path

from stacks_contract import RunRequest
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect
from stacks_el_dlt import FilesStep


def test_csv_nulls_and_a_column_empty_in_every_row(tmp_path: Path, warehouse: Warehouse) -> None:
    land = tmp_path / "land"
    land.mkdir()
    (land / "a.csv").write_text('id,name,score\n1,ann,7\n2,,8\n3,"",9\n')
    step = FilesStep(land, table="people", primary_key="id")
    assert step.run(RunRequest(stack="t"), warehouse).rows == {"raw.people": 3}
    # main: every later run failed ("Function 'array_take' has no kernel matching input types
    # (int64, null)"): score is null in every row of the new file, so it is cast to bigint
    (land / "b.csv").write_text("id,name,score\n4,dan,\n5,eve,\n")
    assert step.run(RunRequest(stack="t"), warehouse).rows == {"raw.people": 2}
    with connect(warehouse) as conn:
        rows = conn.execute("select id, name, score from raw.people order by id")
    # main: the empty field of row 2 became '' (a NULL in the file is not an empty string)
    assert rows == [(1, "ann", 7), (2, None, 8), (3, "", 9), (4, "dan", None), (5, "eve", None)]
    assert step.run(RunRequest(stack="t"), warehouse).total_rows == 0
    # main: a column new to the table and empty in every row of the new file was not created
    (land / "c.csv").write_text("id,name,score,note\n6,fay,1,\n7,gus,2,\n")
    assert step.run(RunRequest(stack="t"), warehouse).rows == {"raw.people": 2}
    with connect(warehouse) as conn:
        rows = conn.execute("select id, score, note from raw.people where id > 5 order by id")
    assert rows == [(6, 1, None), (7, 2, None)]
    assert step.run(RunRequest(stack="t"), warehouse).total_rows == 0
