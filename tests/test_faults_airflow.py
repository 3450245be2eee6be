"""The fault matrix under Airflow: the shop stack composed with the AirflowOrchestrator (a
reference to tests/swapped_stacks.py, run by `stacks run` like an installed stack) killed,
interrupted, raced and cut off from a restarting Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultmatrix import run_fault_matrix
from stacks_testing.postgres import PostgresServer

STACK = f"{Path(__file__).with_name('swapped_stacks.py')}:airflow_dlt_dbt"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_airflow_fault_matrix(
    kind: str,
    tmp_path: Path,
    shop_url: str,
    fault_cluster: PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_fault_matrix(
        STACK, kind, cwd=tmp_path, shop_url=shop_url, cluster=fault_cluster, capsys=capsys
    )
