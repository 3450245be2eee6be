"""Rows that break the declared schema are set aside, counted, never dropped or duplicated."""

from __future__ import annotations

import json
from typing import Any

import dlt
from stacks_contract import RunRequest
from stacks_contract.warehouse import Warehouse
from stacks_core import fingerprint
from stacks_core.sql import connect
from stacks_el_dlt import QUARANTINE_TABLE, DltStep

#: dlt's own columns and tables are load metadata (el-dlt declares them)
META = DltStep.metadata_columns


def run(step: DltStep, wh: Warehouse, run_id: str | None = None):
    kw = {"run_id": run_id} if run_id else {}
    return step.run(RunRequest(stack="t", **kw), wh)


def query(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with connect(wh) as conn:
        return conn.execute(sql)


def make_factory(data: dict[str, list[dict[str, Any]]], **hints: Any):
    def factory() -> Any:
        snapshot = [dict(r) for r in data["rows"]]
        return dlt.resource(
            snapshot, name="payments", primary_key="id", write_disposition="merge", **hints
        )

    return factory


DECLARED = {"amount": {"data_type": "double"}, "paid_at": {"data_type": "timestamp"}}


def test_bad_rows_go_to_quarantine_with_reason_and_payload(warehouse: Warehouse) -> None:
    data = {
        "rows": [
            {"id": 1, "amount": 10.0, "paid_at": "2024-01-01T00:00:00Z"},
            {"id": 2, "amount": "ten", "paid_at": "2024-01-01T00:00:00Z"},
            {"id": 3, "amount": 5, "paid_at": "not a date"},
            {"id": None, "amount": 1.0, "paid_at": "2024-01-01T00:00:00Z"},
            {"id": 5, "amount": "7.5", "paid_at": "2024-01-02T00:00:00Z"},  # coercible: loads
        ]
    }
    step = DltStep("pay", make_factory(data, columns=DECLARED))
    result = run(step, warehouse, run_id="r1")
    assert result.rows == {"raw.payments": 2}
    assert result.quarantined == {"raw.payments": 3}
    assert query(warehouse, "select id, amount from raw.payments order by id") == [
        (1, 10.0),
        (5, 7.5),
    ]
    got = query(
        warehouse,
        f"select table_name, step, reason, payload, _stacks_run_id from raw.{QUARANTINE_TABLE} "
        "order by payload",
    )
    assert len(got) == 3
    payloads = [json.loads(r[3]) for r in got]
    assert sorted(p["id"] or 0 for p in payloads) == [0, 2, 3]
    reasons = {json.loads(r[3])["id"]: r[2] for r in got}
    assert "'amount'" in reasons[2] and "double" in reasons[2]
    assert "'paid_at'" in reasons[3] and "timestamp" in reasons[3]
    assert "'id'" in reasons[None] and "required" in reasons[None]
    assert {(r[0], r[1], r[4]) for r in got} == {("payments", "pay", "r1")}
    # the stamps are not part of the raw payload
    assert all("_stacks_run_id" not in p for p in payloads)


def test_quarantine_is_idempotent_across_reruns(warehouse: Warehouse) -> None:
    data = {"rows": [{"id": 1, "amount": 1.0}, {"id": 2, "amount": "bad"}]}
    step = DltStep("pay", make_factory(data, columns=DECLARED))
    run(step, warehouse)
    once = fingerprint(warehouse, metadata=META)
    second = run(step, warehouse)
    assert second.quarantined == {"raw.payments": 1}  # seen again, counted for this run
    run(step, warehouse)
    assert fingerprint(warehouse, metadata=META) == once  # but never stored twice
    assert query(warehouse, f"select count(*) from raw.{QUARANTINE_TABLE}") == [(1,)]


def test_type_change_against_the_loaded_table_is_quarantined(warehouse: Warehouse) -> None:
    # no declared types: the first load infers them, a later type change is set aside
    data = {"rows": [{"id": 1, "qty": 3, "note": "x"}]}
    step = DltStep("inv", make_factory(data))
    run(step, warehouse)
    data["rows"] = [
        {"id": 2, "qty": "three", "note": "y"},
        {"id": 3, "qty": 4, "note": "z", "extra": True},  # a new column still evolves
    ]
    result = run(step, warehouse)
    assert result.rows == {"raw.payments": 1}
    assert result.quarantined == {"raw.payments": 1}
    with connect(warehouse) as conn:
        cols = conn.columns("raw", "payments")
        assert "extra" in cols
        assert not [c for c in cols if "__v_" in c]  # no variant column for the bad value
        assert conn.execute("select id from raw.payments order by id") == [(1,), (3,)]


def test_quarantine_can_be_switched_off(warehouse: Warehouse) -> None:
    data = {"rows": [{"id": 1, "amount": "bad"}]}
    step = DltStep("pay", make_factory(data, columns=DECLARED), quarantine_rows=False)
    result = run(step, warehouse)
    # dlt's own behaviour then: a variant column holds the value, nothing is set aside
    assert result.quarantined == {} and result.rows == {"raw.payments": 1}
    with connect(warehouse) as conn:
        assert not conn.table_exists("raw", QUARANTINE_TABLE)
