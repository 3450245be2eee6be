"""The DAG file a user drops into the dags folder, run the way a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stacks_contract.models import RunStatus, StackRef
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.ledger import Ledger
from stacks_core.sql import connect
from stacks_orch_airflow import write_dag_file

AIRFLOW = str(Path(sys.executable).with_name("airflow"))

PARSE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({
    "dags": sorted(bag.dag_ids),
    "errors": {k: v for k, v in bag.import_errors.items()},
    "dbt_imported": "dbt.cli.main" in sys.modules or "dbt.parser.manifest" in sys.modules,
    "tasks": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dag_ids},
}))
"""


def _env(tmp_path: Path, warehouse: DuckDBWarehouse) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "STACKS_WAREHOUSE": f"duckdb:///{warehouse.path}",
    }


def test_the_dag_file_is_two_lines_without_secrets(tmp_path: Path) -> None:
    path = write_dag_file("my-stack", tmp_path / "dags")
    assert path.read_text().splitlines() == [
        "from stacks_orch_airflow import stack_dag",
        "dag = stack_dag('my-stack')",
    ]
    ref = StackRef(stack="my-stack", warehouse_env="MY_WAREHOUSE")
    other = write_dag_file(ref, tmp_path / "dags").read_text()
    assert "MY_WAREHOUSE" in other and len(other.splitlines()) == 2


def test_airflow_dags_test_runs_the_stack_from_the_command_line(
    installed_stacks, tmp_path: Path, duckdb_warehouse: DuckDBWarehouse
) -> None:
    write_dag_file("airflow-ref", tmp_path / "dags")
    proc = subprocess.run(
        [AIRFLOW, "dags", "test", "airflow-ref"],
        env=_env(tmp_path, duckdb_warehouse),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = Ledger(duckdb_warehouse).runs("airflow-ref")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.orchestrator == "airflow"
    assert run.rows == {"raw.customers": 8, "raw.orders": 24}
    assert run.run_id.startswith("manual__"), "the run is named after the Airflow DAG run"
    with connect(duckdb_warehouse) as conn:
        (ids,) = conn.execute("select list(distinct _stacks_run_id) from analytics.top_customers")[
            0
        ]
    assert ids == [run.run_id]


def test_a_prepared_shop_dag_file_parses_without_running_dbt(
    installed_stacks, tmp_path: Path, duckdb_warehouse: DuckDBWarehouse, monkeypatch
) -> None:
    """write_dag_file(prepare=True) leaves the dbt manifest in place; Airflow's own DagBag then
    parses the file in a fresh process without importing dbt or touching the warehouse."""
    env = _env(tmp_path, duckdb_warehouse)
    monkeypatch.setenv("STACKS_WAREHOUSE", env["STACKS_WAREHOUSE"])
    write_dag_file("airflow-shop", tmp_path / "dags", prepare=True)
    proc = subprocess.run(
        [sys.executable, "-c", PARSE, str(tmp_path / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["dags"] == ["airflow-shop"]
    tasks = parsed["tasks"]["airflow-shop"]
    assert {"stacks_start", "el_shop", "stacks_finish"} <= set(tasks)
    assert "dbt_dbt.fct_orders_model_build" in tasks
    assert parsed["dbt_imported"] is False, "parsing the DAG file ran dbt"
    assert not duckdb_warehouse.path.exists(), "parsing touched the warehouse"
