"""dlt's own warnings and tracebacks go to a log file; a failure names it, and the column."""

from __future__ import annotations

from pathlib import Path

import dlt
import pyarrow as pa
import pytest
from stacks_contract import RunRequest
from stacks_contract.errors import StepFailed
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_demo.shop import ShopServer
from stacks_el_dlt import DltStep, FilesStep, ShopApiStep


def test_ordinary_runs_print_no_dlt_warnings(
    tmp_path: Path, duckdb_warehouse: Warehouse, capfd: pytest.CaptureFixture[str], _dlt_dir: Path
) -> None:
    warehouse = duckdb_warehouse  # the warnings are dlt's, before any destination
    land = tmp_path / "land"
    land.mkdir()
    (land / "a.csv").write_text("id,name\n1,a\n2,b\n")
    # a CSV with a key: "several column hints were different" on every load
    FilesStep(land, table="people", primary_key="id").run(RunRequest(stack="t"), warehouse)
    # the shop API: "updated_at ... collides with other column" four times on a first load
    with ShopServer(seed=3) as shop:
        ShopApiStep(shop.url).run(RunRequest(stack="t"), warehouse)
    err = capfd.readouterr().err
    assert "WARNING" not in err and "collides" not in err and "hints were different" not in err
    log = (_dlt_dir / "dlt.log").read_text()
    assert "collides with other column" in log and "hints were different" in log


def test_a_failed_load_names_table_column_and_the_log(
    postgres_warehouse: PostgresWarehouse, capfd: pytest.CaptureFixture[str], _dlt_dir: Path
) -> None:
    # quarantine off: a column that changed type fails the load, in Postgres' own words
    state = {"table": pa.table({"id": [1], "v": [1]})}
    step = DltStep(
        "typed",
        lambda: dlt.resource([state["table"]], name="items", primary_key="id"),
        quarantine_rows=False,
    )
    step.run(RunRequest(stack="t"), postgres_warehouse)
    state["table"] = pa.table({"id": [2], "v": ["x"]})
    with pytest.raises(StepFailed) as info:
        step.run(RunRequest(stack="t"), postgres_warehouse)
    text = str(info.value)
    assert "\n" not in text
    assert "raw.items" in text and "column v" in text  # Postgres' CONTEXT line, kept
    assert str(_dlt_dir / "dlt.log") in text
    assert "Traceback" not in capfd.readouterr().err
    assert "Traceback" in (_dlt_dir / "dlt.log").read_text()
