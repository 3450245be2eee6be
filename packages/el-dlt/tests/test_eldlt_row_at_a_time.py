"""A resource yielding one dict at a time takes dlt's row path; pages still become Arrow tables
(as one-row Arrow tables, single rows paid dlt's per-item Arrow schema work on every row: the
bench's el_row_at_a_time_vs_plain_dlt). Either way the warehouse holds the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt
from stacks_contract import RunRequest
from stacks_core.sql import connect
from stacks_el_dlt import DltStep
from stacks_el_dlt.stamp import StampAndQuarantine

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def stamp() -> StampAndQuarantine:
    return StampAndQuarantine(
        step="rows", table="rows", run_id="r1", loaded_at=T0, rules={}, arrow_batches=True
    )


def test_a_single_dict_stays_a_row_with_its_stamps() -> None:
    # (pages becoming Arrow tables: test_eldlt_arrow_batches.py)
    one = stamp()({"id": 1, "name": "a"})
    assert one == [{"id": 1, "name": "a", "_stacks_run_id": "r1", "_stacks_loaded_at": T0}]


def test_rows_yielded_one_at_a_time_load_once_with_their_stamps(duckdb_warehouse) -> None:
    def factory() -> Any:
        @dlt.resource(name="rows", primary_key="id", write_disposition="merge")
        def rows() -> Any:
            for i in range(1, 251):
                yield {"id": i, "name": f"n{i}", "amount": i * 0.5}

        return rows()

    step = DltStep("rows", factory)
    first = step.run(RunRequest(stack="t", run_id="run-1"), duckdb_warehouse)
    again = step.run(RunRequest(stack="t", run_id="run-2"), duckdb_warehouse)
    assert first.rows == again.rows == {"raw.rows": 250}
    with connect(duckdb_warehouse) as conn:
        got = conn.execute(
            "select count(*), count(distinct id), sum(amount), min(_stacks_run_id) from raw.rows"
        )
    assert got == [(250, 250, 15687.5, "run-2")]
